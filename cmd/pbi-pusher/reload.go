package main

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// sameSchema reports an error when next changes datasets or tables (anything but limits), which a
// reload cannot apply: the service's schema must be planned and applied, then the daemon restarted.
// Changed auth settings are applied (corrected credentials), so are limits and sources.
func sameSchema(cur, next *config.Config) error {
	if len(cur.Datasets) != len(next.Datasets) {
		return errors.New("datasets added or removed: restart pbi-pusher (after `pbi-pusher schema plan`)")
	}
	for i := range cur.Datasets {
		a, b := cur.Datasets[i], next.Datasets[i]
		a.Limits, b.Limits = config.Limits{}, config.Limits{}
		if !reflect.DeepEqual(a, b) {
			return fmt.Errorf("dataset %q changed beyond its limits: restart pbi-pusher (after `pbi-pusher schema plan`)", cur.Datasets[i].Name)
		}
	}
	if !reflect.DeepEqual(cur.PowerBI, next.PowerBI) || cur.Spool != next.Spool {
		return errors.New("powerbi or spool settings changed: restart pbi-pusher")
	}
	return nil
}

package progress

import (
	"fmt"
	"time"
)

// estimate is an ETA and what bounds it.
type estimate struct {
	d     time.Duration
	known bool
	bound string // the binding limit's name from the drain model
}

func (e estimate) text() string {
	if !e.known {
		return "unknown"
	}
	return "~" + human(e.d)
}

// eta is the drain model's estimate carried by the last snapshot (batcher.ForecastDrain, the
// function the dry-run plan and /status use), or unknown when the snapshot has none (input of
// unknown size still being read).
func (d *Display) eta() estimate {
	if s := d.last; s.ETAKnown {
		return estimate{d: s.ETA, known: true, bound: s.Binding}
	}
	return estimate{}
}

// human formats d as 45s, 12m05s or 9h07m.
func human(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

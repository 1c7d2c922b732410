package pipeline

import (
	"fmt"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/schema"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// DeadLetterMapper returns the spool.Remapper of cfg's tables: `spool replay` decodes a
// source-format dead letter and maps it with the current schema, so a fixed config rescues it.
func DeadLetterMapper(cfg *config.Config) (spool.Remapper, error) {
	tables, err := compileTables(cfg)
	if err != nil {
		return nil, err
	}
	return remapper(tables), nil
}

func remapper(tables map[spool.QueueKey]*schema.Table) spool.Remapper {
	return func(d spool.DeadLetter) ([]byte, error) {
		t := tables[d.Queue]
		if t == nil {
			return nil, fmt.Errorf("replay: table %s/%s is not configured", d.Queue.Dataset, d.Queue.Table)
		}
		fields, err := ingest.DecodeDeadLetter(d.Format, d.Header, d.Data)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		row, err := t.Coerce(fields, time.Now())
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		return row, nil
	}
}

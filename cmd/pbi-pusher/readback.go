package main

import (
	"log/slog"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/pipeline"
	"github.com/pbi-pusher/pbi-pusher/readback"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// newReadBack returns the read-back loop for p's datasets, or nil when powerbi.read_back is off.
func newReadBack(cfg *config.Config, p *pipeline.Pipeline, log *slog.Logger) *readback.Reader {
	if !cfg.PowerBI.ReadBackOn() {
		return nil
	}
	return readback.New(readback.Options{
		Datasets: cfg.Datasets,
		Counter:  p.Sink,
		Target: func(dataset string) readback.Target {
			if d := p.Dispatcher(dataset); d != nil {
				return d
			}
			return nil
		},
		Interval: time.Duration(cfg.PowerBI.ReadBackInterval),
		Logger:   log.With("component", "readback"),
	})
}

// serviceRows is admin.Sources.ServiceRows for rb (nil when read-back is off).
func serviceRows(rb *readback.Reader) func(q spool.QueueKey) (int64, bool) {
	if rb == nil {
		return nil
	}
	return func(q spool.QueueKey) (int64, bool) {
		c, ok := rb.Get(q.Dataset, q.Table)
		return c.Rows, ok && c.Known
	}
}

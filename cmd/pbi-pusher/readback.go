package main

import (
	"log/slog"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/pipeline"
	"github.com/pbi-pusher/pbi-pusher/readback"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// newReadBack returns the read-back loop for p's Power BI datasets, or nil when powerbi.read_back
// is off or no table is delivered to Power BI (an Eventstream-only config has no Power BI client).
func newReadBack(cfg *config.Config, p *pipeline.Pipeline, log *slog.Logger) *readback.Reader {
	datasets := p.PowerBIDatasets()
	if !cfg.PowerBI.ReadBackOn() || len(datasets) == 0 {
		return nil
	}
	return readback.New(readback.Options{
		Datasets: datasets,
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

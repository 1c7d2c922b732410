// Package batcher shapes spooled rows into POSTs per dataset: as large and as frequent as the
// Power BI limits allow, never more, and adapting to the service's throttling.
//
// CONTRACT STUB: implemented by the batcher work.
package batcher

import (
	"context"
	"log/slog"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Queue is what the dispatcher needs from the spool.
type Queue interface {
	Backlog(q spool.QueueKey) spool.Backlog
	Take(q spool.QueueKey, maxRows, maxBytes int) (*spool.Batch, error)
	Ack(b *spool.Batch) error
	Nack(b *spool.Batch) error
	Reject(b *spool.Batch, reason string) error
	Delivered(q spool.QueueKey) int64
	Notify() <-chan struct{}
}

// Sender posts rows; its errors are classified with sink.Classify.
type Sender interface {
	// seq is the spool sequence of the batch's first row: stable across resends of the same rows.
	PostRows(ctx context.Context, dataset, table string, seq uint64, rows [][]byte) error
}

// Options configure a Dispatcher for one dataset.
type Options struct {
	Dataset config.Dataset // name, retention, limits (defaults applied), tables
	Linger  time.Duration
	Queue   Queue
	Sender  Sender
	Logger  *slog.Logger
	// Clock is injected for virtual-time tests; nil = real time.
	Clock Clock
	// Abort ends in-flight POSTs when done (shutdown_timeout passed); their rows are Nacked.
	Abort context.Context
}

// Clock is the dispatcher's time source.
type Clock interface {
	Now() time.Time
	// After is like time.After on this clock.
	After(d time.Duration) <-chan time.Time
}

// Dispatcher drives one dataset's scheduler.
type Dispatcher struct{}

// NewDispatcher returns a dispatcher.
func NewDispatcher(o Options) *Dispatcher { panic("stub") }

// Run posts until ctx is done, then waits for in-flight POSTs (bounded by Options.Abort) and
// returns nil. It returns early with the error when the dataset hits a Fatal error.
func (d *Dispatcher) Run(ctx context.Context) error { panic("stub") }

// SetLimits replaces the limits (SIGHUP reload) without losing rows.
func (d *Dispatcher) SetLimits(l config.Limits) { panic("stub") }

// SetShare scales every rate limit by share in (0,1] (Kafka scale-out).
func (d *Dispatcher) SetShare(share float64) { panic("stub") }

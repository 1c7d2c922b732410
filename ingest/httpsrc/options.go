package httpsrc

import (
	"context"
	"log/slog"
	"time"

	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// RecordWriter durably writes records (ingest.Writer implements it); it returns only when the
// records are in the spool.
type RecordWriter interface {
	Write(ctx context.Context, source string, recs []ingest.Record, checkpoints map[string][]byte) (ingest.Result, error)
}

// Target is a table rows can be posted to.
type Target struct {
	// Dataset and Table are the configured names.
	Dataset, Table string
	// Writer spools the table's rows.
	Writer RecordWriter
	// Schema checks every row before any is spooled (schema.Table implements it).
	Schema ingest.Coercer
}

// Resolver maps the {dataset} (configured name or Power BI id) and {table} of a request URL to a
// target; false when there is no such table.
type Resolver func(dataset, table string) (Target, bool)

// Options are the code-side settings of a Server.
type Options struct {
	// Resolve finds the target of a request. Required.
	Resolve Resolver
	// Full reports whether the spool is full (spool.Spool.Full). nil: never full.
	Full func() bool
	// Logger receives lifecycle and problem logs; nil discards them.
	Logger *slog.Logger
	// MaxBodyBytes caps a request body. Default 16 MiB.
	MaxBodyBytes int64
	// MaxInFlight caps the requests spooled at once; further ones wait for a slot. The rows held by
	// requests being read are bounded by MaxInFlight × MaxBodyBytes bytes. Default 16.
	MaxInFlight int
	// RetryAfter is the Retry-After of a 503. Default 5s.
	RetryAfter time.Duration
	// ReadTimeout bounds reading one request's whole body (sources[].read_timeout). Default 30s.
	ReadTimeout time.Duration
	// Rejected is called once per refused request with its reason (a Reason* constant) and the
	// rows it held when known (0 otherwise). nil: not counted.
	Rejected func(reason string, rows int)
	// WriteTimeout bounds the wait for the spool in one request. Default 30s.
	WriteTimeout time.Duration
	// ShutdownTimeout bounds how long in-flight requests may finish once Run's context ends.
	// Default 10s.
	ShutdownTimeout time.Duration
	// Now is the clock of schema checks. Default time.Now.
	Now func() time.Time
}

const (
	defaultMaxBodyBytes    = 16 << 20
	defaultMaxInFlight     = 16
	defaultRetryAfter      = 5 * time.Second
	defaultWriteTimeout    = 30 * time.Second
	defaultReadTimeout     = 30 * time.Second
	defaultShutdownTimeout = 10 * time.Second
	// maxDetails caps the per-row details of a 400 answer.
	maxDetails = 100
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Full == nil {
		o.Full = func() bool { return false }
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxBodyBytes
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = defaultMaxInFlight
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = defaultRetryAfter
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = defaultReadTimeout
	}
	if o.Rejected == nil {
		o.Rejected = func(string, int) {}
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = defaultShutdownTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

package filesrc

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// RecordWriter durably writes decoded records and the checkpoints that cover them in one spool
// transaction (ingest.Writer implements it). It returns only when the write is durable.
type RecordWriter interface {
	Write(ctx context.Context, source string, recs []ingest.Record, checkpoints map[string][]byte) (ingest.Result, error)
}

// CheckpointReader reads spool metadata (spool.Spool implements it); nil, nil when absent.
type CheckpointReader interface {
	Meta(key string) ([]byte, error)
}

// Options are the code-side settings of a Source.
type Options struct {
	// Writer receives the records. Required.
	Writer RecordWriter
	// Checkpoints reads the checkpoints of an earlier run. Required for type file.
	Checkpoints CheckpointReader
	// Logger receives lifecycle and problem logs; nil discards them.
	Logger *slog.Logger
	// PollInterval is how often a followed file and the globs are checked. Default 250ms.
	PollInterval time.Duration
	// BatchSize caps the records of one Write. Default 1000.
	BatchSize int
	// CheckFields, if set, is called once per file read (and for stdin) with the CSV header or
	// the first JSON record's fields, before its first record is written: the caller checks them
	// against the table and logs the outcome once. nil: no check.
	CheckFields func(input string, fields []string, header bool)
	// Stdin is the reader of type stdin. Default os.Stdin.
	Stdin io.Reader
}

const (
	defaultPollInterval = 250 * time.Millisecond
	defaultBatchSize    = 1000
	// rotatedIdlePolls is how many idle polls a rotated file is still read before it is closed.
	rotatedIdlePolls = 4
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.BatchSize <= 0 {
		o.BatchSize = defaultBatchSize
	}
	return o
}

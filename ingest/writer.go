package ingest

import (
	"context"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Appender is what sources need from the spool.
type Appender interface {
	Append(ctx context.Context, w spool.Write) error
}

// Coercer maps a record onto a table (schema.Table implements it).
type Coercer interface {
	Coerce(rec map[string]any, now time.Time) ([]byte, error)
}

// Writer turns decoded records into one durable spool write: good rows to the table's queue,
// malformed or rejected records to the dead-letter bucket with their position and reason, and the
// source checkpoint in the same transaction. Sources acknowledge only after Write returns nil.
type Writer struct {
	Queue spool.QueueKey
	Table Coercer
	Spool Appender
	Now   func() time.Time // nil = time.Now
}

// Result counts what one Write did.
type Result struct{ Rows, Rejected int }

// Write coerces recs and appends them with checkpoints in one transaction. source names the
// input (a file path, "stdin", "topic/partition"); positions are reported as source:line for
// files and source@offset where Record.Line is 0.
func (w *Writer) Write(ctx context.Context, source string, recs []Record, checkpoints map[string][]byte) (Result, error) {
	panic("stub")
}

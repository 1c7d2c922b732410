package ingest

import (
	"context"
	"fmt"
	"strconv"
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
	// Positions stores each row's source position with it (a destination sends it along, e.g.
	// as an Eventstream message header). Default false: rows only.
	Positions bool
}

// Result counts what one Write did.
type Result struct{ Rows, Rejected int }

// Write coerces recs and appends them with checkpoints in one transaction. source names the
// input (a file path, "stdin", "topic/partition"); positions are reported as source:line for
// files and source@offset where Record.Line is 0.
//
// Every record is read with the same now. A record with Err, or one the table rejects, becomes
// a dead letter holding its raw input; it never fails the Write. Write makes exactly one Append
// call (also when recs is empty, so checkpoints still advance) and returns its error wrapped;
// on error nothing was written and the caller must not acknowledge.
func (w *Writer) Write(ctx context.Context, source string, recs []Record, checkpoints map[string][]byte) (Result, error) {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	at := now()
	sw := spool.Write{Queue: w.Queue, Checkpoints: checkpoints}
	for i := range recs {
		r := &recs[i]
		err := r.Err
		if err == nil && r.Row != nil {
			sw.Rows = append(sw.Rows, r.Row)
			continue
		}
		if err == nil {
			var row []byte
			if row, err = w.Table.Coerce(r.Fields, at); err == nil {
				sw.Rows = append(sw.Rows, row)
				if w.Positions {
					sw.Positions = append(sw.Positions, Position(source, *r))
				}
				continue
			}
		}
		format, header := sourceFormat(*r)
		sw.DeadLetters = append(sw.DeadLetters, spool.DeadLetter{
			Queue: w.Queue, Data: r.Raw, Position: Position(source, *r), Reason: err.Error(), At: at,
			Format: format, Header: header,
		})
	}
	if err := w.Spool.Append(ctx, sw); err != nil {
		return Result{}, fmt.Errorf("spool %d rows and %d dead letters from %s to %s: %w",
			len(sw.Rows), len(sw.DeadLetters), source, w.Queue, err)
	}
	return Result{Rows: len(sw.Rows), Rejected: len(sw.DeadLetters)}, nil
}

// Position formats where a record came from: source:line, or source@offset when Line is 0.
func Position(source string, r Record) string {
	if r.Line > 0 {
		return source + ":" + strconv.FormatInt(r.Line, 10)
	}
	return source + "@" + strconv.FormatInt(r.Offset, 10)
}

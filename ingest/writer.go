package ingest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Appender is what sources need from the spool. Append must not keep w's row slices after it
// returns (the spool copies them into its transaction): Writer reuses their buffer.
type Appender interface {
	Append(ctx context.Context, w spool.Write) error
}

// Coercer maps a record onto a table (schema.Table implements it).
type Coercer interface {
	Coerce(rec map[string]any, now time.Time) ([]byte, error)
}

// RowAppender is a Coercer that can also build a row straight from a JSON object's text in one
// pass (schema.Table). false means it did not: Writer then decodes the text and calls Coerce,
// which gives the same row, or the error.
type RowAppender interface {
	AppendJSONRow(dst, obj []byte, now time.Time) ([]byte, bool)
}

// maxPooledRowBuf is the largest row buffer kept for reuse.
const maxPooledRowBuf = 4 << 20

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

	// bufs holds the buffers one Write builds its rows in (*[]byte): the spool copies rows
	// during Append, so a buffer is free again once Append returns.
	bufs sync.Pool
}

// Result counts what one Write did.
type Result struct {
	Rows, Rejected int
	Malformed      int // of Rejected: records that did not decode (the rest the table refused)
}

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
	fast, _ := w.Table.(RowAppender)
	bufp, _ := w.bufs.Get().(*[]byte)
	if bufp == nil {
		bufp = new([]byte)
	}
	buf := (*bufp)[:0]
	defer func() {
		if cap(buf) <= maxPooledRowBuf {
			*bufp = buf[:0]
			w.bufs.Put(bufp)
		}
	}()
	nMalformed := 0
	for i := range recs {
		r := &recs[i]
		err, fields := r.Err, r.Fields
		malformed := err != nil
		if err == nil && r.Row != nil {
			sw.Rows = append(sw.Rows, r.Row)
			continue
		}
		if err == nil && r.deferred {
			if fast != nil {
				if out, ok := fast.AppendJSONRow(buf, r.Raw, at); ok {
					sw.Rows = append(sw.Rows, out[len(buf):len(out):len(out)])
					buf = out
					if w.Positions {
						sw.Positions = append(sw.Positions, Position(source, *r))
					}
					continue
				}
			}
			fields, err = r.Decoded()
			malformed = err != nil
		}
		if err == nil {
			var row []byte
			if row, err = w.Table.Coerce(fields, at); err == nil {
				sw.Rows = append(sw.Rows, row)
				if w.Positions {
					sw.Positions = append(sw.Positions, Position(source, *r))
				}
				continue
			}
		}
		if malformed {
			nMalformed++
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
	return Result{Rows: len(sw.Rows), Rejected: len(sw.DeadLetters), Malformed: nMalformed}, nil
}

// Position formats where a record came from: source:line, or source@offset when Line is 0.
func Position(source string, r Record) string {
	if r.Line > 0 {
		return source + ":" + strconv.FormatInt(r.Line, 10)
	}
	return source + "@" + strconv.FormatInt(r.Offset, 10)
}

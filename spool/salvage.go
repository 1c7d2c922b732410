package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// salvageChunk is how many rows Salvage appends per Write.
const salvageChunk = 1000

// Salvage reads whatever is readable in a quarantined spool file (opened read-only, never
// modified) and appends its rows to their queues in into, and its dead letters to into's
// dead-letter bucket. Rows that were in flight in the old file are included (they may already be
// at Power BI). Metadata and checkpoints are not copied: the running spool's are newer. Rows that
// are not valid JSON (garbage from a damaged page) are skipped and counted in the error.
//
// It returns the rows (and dead letters) appended. A non-nil error with rows > 0 means the file
// was partly readable: the error lists what was skipped.
//
// bbolt panics on some corrupt pages instead of returning an error. Salvage exists to read damaged
// files, so it recovers those panics per queue (a panic loses the rest of that queue only);
// nothing else in this package recovers from a read panic (Open's recover only turns a panic
// while opening into quarantine).
func Salvage(ctx context.Context, corruptPath string, into *Spool) (int, error) {
	db, err := openBolt(corruptPath, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("spool: salvage %s: cannot open: %w", corruptPath, err)
	}
	defer func() { _ = db.Close() }()
	names, err := salvageNames(db)
	if err != nil {
		return 0, fmt.Errorf("spool: salvage %s: %w", corruptPath, err)
	}
	total := 0
	var errs []error
	for _, name := range names {
		sv := &salvager{ctx: ctx, into: into}
		err := sv.run(db, name)
		total += sv.n
		if err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	sv := &salvager{ctx: ctx, into: into}
	if err := sv.run(db, nil); err != nil {
		errs = append(errs, err)
	}
	total += sv.n
	if err := errors.Join(errs...); err != nil {
		return total, fmt.Errorf("spool: salvage %s: %d rows recovered, some skipped: %w", corruptPath, total, err)
	}
	return total, nil
}

// salvageNames lists the queue buckets of the damaged file.
func salvageNames(db *bolt.DB) (names [][]byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("queue list unreadable (bbolt panicked: %v)", r)
		}
	}()
	err = db.View(func(tx *bolt.Tx) error {
		qs := tx.Bucket(bucketQueues)
		if qs == nil {
			return errors.New("no queues bucket")
		}
		return qs.ForEachBucket(func(name []byte) error {
			names = append(names, append([]byte(nil), name...))
			return nil
		})
	})
	return names, err
}

// salvager copies one queue (name != nil) or the dead letters (name == nil) in chunks.
type salvager struct {
	ctx     context.Context
	into    *Spool
	w       Write
	n       int
	skipped int
	last    []byte // key of the last row read going forward
}

// run copies the bucket. A bad page stops a forward walk; for queues a backward walk then finds
// where the readable tail starts and a third walk copies it, so one bad page loses only its own
// rows.
func (sv *salvager) run(db *bolt.DB, name []byte) error {
	what := "dead letters"
	if name != nil {
		q, _ := parseQueueName(name)
		sv.w.Queue, what = q, "queue "+q.String()
	}
	errs := []error{sv.pass(db, name, func(b *bolt.Bucket) error { return sv.forward(b, nil) })}
	if errs[0] != nil && name != nil && !errors.Is(errs[0], sv.ctx.Err()) {
		var tail []byte
		_ = sv.pass(db, name, func(b *bolt.Bucket) error { tail = sv.tailStart(b); return nil })
		if tail != nil {
			errs = append(errs, sv.pass(db, name, func(b *bolt.Bucket) error { return sv.forward(b, tail) }))
		}
	}
	if sv.skipped > 0 {
		errs = append(errs, fmt.Errorf("%d rows skipped (not JSON)", sv.skipped))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// pass runs fn on the bucket in a read transaction and flushes what it collected. This is the
// recover: a bbolt panic on a damaged page ends the pass, not the process.
func (sv *salvager) pass(db *bolt.DB, name []byte, fn func(*bolt.Bucket) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unreadable page after %d rows (bbolt panicked: %v)", sv.n+len(sv.w.Rows)+len(sv.w.DeadLetters), r)
		}
		err = errors.Join(err, sv.flush())
	}()
	return db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDead)
		if name != nil {
			b = tx.Bucket(bucketQueues).Bucket(name)
		}
		if b == nil {
			return errors.New("bucket missing")
		}
		return fn(b)
	})
}

// forward copies rows from from (nil = first) to the end.
func (sv *salvager) forward(b *bolt.Bucket, from []byte) error {
	add := sv.addRow
	if sv.w.Queue == (QueueKey{}) {
		add = sv.addDead
	}
	c := b.Cursor()
	k, v := c.First()
	if from != nil {
		k, v = c.Seek(from)
	}
	for ; k != nil; k, v = c.Next() {
		if v == nil || len(k) != 8 {
			continue
		}
		add(k, v)
		sv.last = append(sv.last[:0], k...)
		if len(sv.w.Rows)+len(sv.w.DeadLetters) >= salvageChunk {
			if err := sv.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// tailStart walks backward from the last key until it reaches what forward already read or a
// bad page, and returns the lowest key it could read (nil if none).
func (sv *salvager) tailStart(b *bolt.Bucket) (low []byte) {
	defer func() { _ = recover() }() // the bad page ends the walk; low (named) is what we got
	c := b.Cursor()
	for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
		if sv.last != nil && string(k) <= string(sv.last) {
			break
		}
		low = append(low[:0], k...)
	}
	return low
}

func (sv *salvager) addRow(_, v []byte) {
	data := rowData(v)
	if !json.Valid(data) {
		sv.skipped++
		return
	}
	sv.w.Rows = append(sv.w.Rows, append([]byte(nil), data...))
}

func (sv *salvager) addDead(k, v []byte) {
	d, err := decodeDead(k, v)
	if err != nil {
		sv.skipped++
		return
	}
	sv.w.DeadLetters = append(sv.w.DeadLetters, d)
}

// flush appends the pending chunk to the live spool.
func (sv *salvager) flush() error {
	n := len(sv.w.Rows) + len(sv.w.DeadLetters)
	if n == 0 {
		return nil
	}
	if err := sv.into.Append(sv.ctx, sv.w); err != nil {
		return err
	}
	sv.n += n
	sv.w.Rows, sv.w.DeadLetters = nil, nil
	return nil
}

package kafkasrc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/schema"
	"github.com/pbi-pusher/pbi-pusher/spool"
	"github.com/pbi-pusher/pbi-pusher/spool/spooltest"
)

// env is one pbi-pusher instance's durable side: a real spool file and a real ingest.Writer
// with a compiled schema table (id Int64, required).
type env struct {
	h *spooltest.Harness
	w *ingest.Writer
}

var testQueue = spool.QueueKey{Dataset: "ds", Table: "events"}

func newEnv(t *testing.T) *env {
	t.Helper()
	tbl, err := schema.Compile(config.Table{Name: "events", Columns: []config.Column{{Name: "id", Type: "Int64", Required: true}}})
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	h := spooltest.New(t, spool.Options{})
	return &env{h: h, w: &ingest.Writer{Queue: testQueue, Table: tbl, Spool: h.S}}
}

// reopen is the restart of a crashed process on the same spool file.
func (e *env) reopen() {
	e.w.Spool = e.h.Reopen()
}

func (e *env) Meta(key string) ([]byte, error) { return e.h.S.Meta(key) }

// spooledIDs takes every ready row out of the spool and returns their ids.
func (e *env) spooledIDs(t *testing.T) []int64 {
	t.Helper()
	var ids []int64
	for {
		b, err := e.h.S.Take(testQueue, 10000, 0)
		if err != nil {
			t.Fatalf("take: %v", err)
		}
		if b == nil {
			return ids
		}
		for _, r := range b.Rows {
			var row struct{ ID int64 }
			if err := json.Unmarshal(r.Data, &row); err != nil {
				t.Fatalf("row %q: %v", r.Data, err)
			}
			ids = append(ids, row.ID)
		}
		if err := e.h.S.Ack(b); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
}

// checkSpooled fails t unless the spools together hold ids [0, n) exactly once each.
func checkSpooled(t *testing.T, n int, envs ...*env) {
	t.Helper()
	seen := make([]int, n)
	extra := 0
	for _, e := range envs {
		for _, id := range e.spooledIDs(t) {
			if id < 0 || id >= int64(n) {
				extra++
				continue
			}
			seen[id]++
		}
	}
	missing, dups := 0, 0
	for _, c := range seen {
		if c == 0 {
			missing++
		}
		if c > 1 {
			dups += c - 1
		}
	}
	if missing > 0 || dups > 0 || extra > 0 {
		t.Fatalf("spool: want ids 0..%d once each; %d missing, %d duplicates, %d unexpected", n-1, missing, dups, extra)
	}
}

// recorder wraps an instance's real writer: it observes what became durable (the ledger) and
// can make the spool look full or the process crash right after a durable write.
type recorder struct {
	inner RecordWriter
	led   *ledger
	mu    sync.Mutex
	dead  bool
	own   int // rows this instance stored
	// limit > 0 makes the spool "full" once own >= limit: Write blocks until release closes
	// (nil: until ctx ends).
	limit   int
	release chan struct{}
	// afterWrite runs after a write is durable, before Write returns (crash injection).
	afterWrite func()
}

var errCrashed = errors.New("recorder: process crashed")

func newRecorder(l *ledger, inner RecordWriter) *recorder {
	return &recorder{led: l, inner: inner}
}

func (r *recorder) Write(ctx context.Context, source string, recs []ingest.Record, cps map[string][]byte) (ingest.Result, error) {
	if err := r.waitGate(ctx); err != nil {
		return ingest.Result{}, err
	}
	if r.isDead() {
		return ingest.Result{}, errCrashed
	}
	res, err := r.inner.Write(ctx, source, recs, cps)
	if err != nil {
		return res, err
	}
	if err := r.led.add(source, recs); err != nil {
		return res, err
	}
	r.mu.Lock()
	r.own += res.Rows
	r.mu.Unlock()
	if r.afterWrite != nil {
		r.afterWrite()
	}
	return res, nil
}

func (r *recorder) isDead() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dead
}

func (r *recorder) waitGate(ctx context.Context) error {
	r.mu.Lock()
	full, release := r.limit > 0 && r.own >= r.limit, r.release
	r.mu.Unlock()
	if !full {
		return nil
	}
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("recorder full: %w", ctx.Err())
	}
}

// fullAt makes the spool block writes once it holds limit rows, until release closes.
func (r *recorder) fullAt(limit int, release chan struct{}) {
	r.mu.Lock()
	r.limit, r.release = limit, release
	r.mu.Unlock()
}

func (r *recorder) ownRows() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.own
}

func (r *recorder) crash() {
	r.mu.Lock()
	r.dead = true
	r.mu.Unlock()
}

// The real pieces satisfy the consumer-side interfaces.
var (
	_ RecordWriter     = (*ingest.Writer)(nil)
	_ CheckpointReader = (*spool.Spool)(nil)
)

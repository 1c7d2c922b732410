//go:build unix

package filesrc_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// written is one RecordWriter.Write call.
type written struct {
	source string
	recs   []ingest.Record
	cps    map[string][]byte
}

// recorder is an in-memory RecordWriter and CheckpointReader: rows and checkpoints of one Write
// become visible together, as with the spool.
type recorder struct {
	mu      sync.Mutex
	writes  []written
	meta    map[string][]byte
	fail    error
	changed chan struct{}
}

func newRecorder() *recorder {
	return &recorder{meta: map[string][]byte{}, changed: make(chan struct{})}
}

func (r *recorder) Write(_ context.Context, source string, recs []ingest.Record, cps map[string][]byte) (ingest.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return ingest.Result{}, r.fail
	}
	r.writes = append(r.writes, written{source: source, recs: append([]ingest.Record(nil), recs...), cps: cps})
	for k, v := range cps {
		r.meta[k] = v
	}
	close(r.changed)
	r.changed = make(chan struct{})
	return ingest.Result{Rows: len(recs)}, nil
}

func (r *recorder) Meta(key string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.meta[key], nil
}

// raws returns the raw text of every record written, in order.
func (r *recorder) raws() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, w := range r.writes {
		for _, rec := range w.recs {
			out = append(out, string(rec.Raw))
		}
	}
	return out
}

// waitFor waits until cond holds on the recorded writes, failing the test after 10s.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; have %d records", what, len(r.raws()))
		}
	}
}

// waitRecords waits until at least n records were written.
func (r *recorder) waitRecords(t *testing.T, n int) {
	t.Helper()
	r.waitFor(t, fmt.Sprintf("%d records", n), func() bool { return len(r.raws()) >= n })
}

// appendLines appends {"n":i} lines for i in [from, to) to path, creating it.
func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writeLines(t, f, from, to)
}

func writeLines(t *testing.T, f *os.File, from, to int) {
	t.Helper()
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "{\"n\":%d}\n", i)
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// checkExactlyOnce fails unless raws hold each {"n":i}, i in [0, n), exactly once.
func checkExactlyOnce(t *testing.T, raws []string, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range raws {
		seen[r]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("{\"n\":%d}", i)]; c != 1 {
			t.Errorf("line %d delivered %d times", i, c)
		}
	}
	if len(raws) != n {
		t.Errorf("got %d records, want %d", len(raws), n)
	}
}

// running runs src.Run in a goroutine; stop cancels it and returns Run's result.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, run func(context.Context) error) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("source did not stop within 10s")
		return nil
	}
}

// testLogger routes the source's logs into the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

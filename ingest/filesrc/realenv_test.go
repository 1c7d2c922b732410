//go:build unix

package filesrc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/ingest/filesrc"
	"github.com/pbi-pusher/pbi-pusher/schema"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

var queue = spool.QueueKey{Dataset: "D", Table: "T"}

// realEnv is the production stack behind a source: a bbolt spool file, an ingest.Writer and a
// schema table with one required Int64 column n. Sources use the real decoders.
type realEnv struct {
	path  string
	spool *spool.Spool
	table *schema.Table
}

func newRealEnv(t *testing.T) *realEnv {
	t.Helper()
	tbl, err := schema.Compile(config.Table{Name: "T", Columns: []config.Column{{Name: "n", Type: "Int64", Required: true}}})
	if err != nil {
		t.Fatal(err)
	}
	e := &realEnv{path: filepath.Join(t.TempDir(), "spool.db"), table: tbl}
	e.open(t)
	t.Cleanup(func() { _ = e.spool.Close() })
	return e
}

func (e *realEnv) open(t *testing.T) {
	t.Helper()
	sp, err := spool.Open(e.path, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.spool = sp
}

// reopen closes and reopens the spool file, as a process restart does.
func (e *realEnv) reopen(t *testing.T) {
	t.Helper()
	if err := e.spool.Close(); err != nil {
		t.Fatal(err)
	}
	e.open(t)
}

func (e *realEnv) source(t *testing.T, cfg config.Source, opts ...func(*filesrc.Options)) *filesrc.Source {
	t.Helper()
	w := &ingest.Writer{Queue: queue, Table: e.table, Spool: e.spool}
	o := filesrc.Options{Writer: w, Checkpoints: e.spool, PollInterval: pollInterval, Logger: testLogger(t)}
	for _, f := range opts {
		f(&o)
	}
	src, err := filesrc.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// waitRows waits until the spool holds at least n rows, failing after 10s.
func (e *realEnv) waitRows(t *testing.T, n int) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for e.spool.Backlog(queue).Rows < n {
		select {
		case <-e.spool.Notify():
		case <-deadline.C:
			t.Fatalf("timed out waiting for %d spooled rows; have %d", n, e.spool.Backlog(queue).Rows)
		}
	}
}

// rows takes every spooled row and returns it as "{"n":N}" text, in spool order.
func (e *realEnv) rows(t *testing.T) []string {
	t.Helper()
	b, err := e.spool.Take(queue, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b == nil {
		return nil
	}
	out := make([]string, 0, len(b.Rows))
	for _, r := range b.Rows {
		var row struct{ N int64 }
		if err := json.Unmarshal(r.Data, &row); err != nil {
			t.Fatalf("row %s: %v", r.Data, err)
		}
		out = append(out, fmt.Sprintf("{\"n\":%d}", row.N))
	}
	return out
}

// deadPositions returns the positions of the dead letters.
func (e *realEnv) deadPositions(t *testing.T) []string {
	t.Helper()
	dls, err := e.spool.DeadLetters(0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range dls {
		out = append(out, d.Position)
	}
	return out
}

func (e *realEnv) checkpointOffset(t *testing.T, path string) int64 {
	t.Helper()
	b, err := e.spool.Meta("file/" + path)
	if err != nil {
		t.Fatal(err)
	}
	var cp struct{ Offset int64 }
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatalf("checkpoint of %s: %v (%q)", path, err, b)
	}
	return cp.Offset
}

// runUntilDone runs a one-shot source to its end.
func runUntilDone(t *testing.T, src *filesrc.Source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := src.Run(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("Run: %v (ctx %v)", err, ctx.Err())
	}
}

// TestCheckpointReadFailureIsAnErrorNotARestart: when the checkpoint cannot be read (here the
// spool holding it is closed) the source fails with the error; it never reads the file from its
// start, which would send every row again.
func TestCheckpointReadFailureIsAnErrorNotARestart(t *testing.T) {
	e := newRealEnv(t)
	path := filepath.Join(t.TempDir(), "a.jsonl")
	if err := os.WriteFile(path, []byte("{\"n\":1}\n{\"n\":2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken, err := spool.Open(filepath.Join(t.TempDir(), "other.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = broken.Close() // every read now fails with spool.ErrClosed
	src := e.source(t, config.Source{Type: "file", Paths: []string{path}}, func(o *filesrc.Options) { o.Checkpoints = broken })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := src.Run(ctx); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("run with an unreadable checkpoint: %v, want an error wrapping spool.ErrClosed", err)
	}
	if n := e.spool.Backlog(queue).Rows; n != 0 {
		t.Fatalf("%d rows spooled: the file was read from its start", n)
	}
}

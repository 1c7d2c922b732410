//go:build unix

package filesrc_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest/filesrc"
)

func TestStdinUntilEOF(t *testing.T) {
	e := newRealEnv(t)
	in := strings.NewReader("{\"n\":0}\nbad\n{\"n\":2}")
	src := e.source(t, config.Source{Type: "stdin", Table: "D/T"}, func(o *filesrc.Options) { o.Stdin = in })
	runUntilDone(t, src)
	if got, want := e.rows(t), []string{`{"n":0}`, `{"n":2}`}; !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if got, want := e.deadPositions(t), []string{"stdin:2"}; !slices.Equal(got, want) {
		t.Errorf("dead letters at %q, want %q", got, want)
	}
}

func TestStdinStopsAtCancelWhileBlocked(t *testing.T) {
	rec := newRecorder()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	src, err := filesrc.New(config.Source{Format: "jsonl", Type: "stdin"}, filesrc.Options{Writer: rec, Stdin: pr})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, src.Run)
	if _, err := io.WriteString(pw, "{\"n\":0}\n"); err != nil {
		t.Fatal(err)
	}
	rec.waitRecords(t, 1)
	if err := r.stop(t); err != nil {
		t.Errorf("Run after cancel: %v, want nil", err)
	}
}

func TestStdinWriteErrorStopsSource(t *testing.T) {
	rec := newRecorder()
	rec.fail = errors.New("disk on fire")
	src, err := filesrc.New(config.Source{Format: "jsonl", Type: "stdin"}, filesrc.Options{
		Writer: rec, Stdin: strings.NewReader("{\"n\":0}\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Run: %v, want the write error", err)
	}
}

// TestStdinFromFileSharesTheFileCheckpoint: stdin redirected from a file that a file source
// already read continues where it stopped (and the reverse), so no row is spooled twice.
func TestStdinFromFileSharesTheFileCheckpoint(t *testing.T) {
	e := newRealEnv(t)
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte("{\"n\":0}\n{\"n\":1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runUntilDone(t, e.source(t, config.Source{Type: "file", Table: "D/T", Paths: []string{path}}))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("{\"n\":2}\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	stdin, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	runUntilDone(t, e.source(t, config.Source{Type: "stdin", Table: "D/T", Format: "jsonl"}, func(o *filesrc.Options) { o.Stdin = stdin }))
	if got, want := e.rows(t), []string{`{"n":0}`, `{"n":1}`, `{"n":2}`}; !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q (each once)", got, want)
	}
	if off := e.checkpointOffset(t, path); off != 24 {
		t.Errorf("checkpoint at %d, want 24 (the end of the file)", off)
	}
	// And the file source, run again, finds nothing new.
	runUntilDone(t, e.source(t, config.Source{Type: "file", Table: "D/T", Paths: []string{path}}))
	if n := e.spool.Backlog(queue).Rows; n != 0 {
		t.Errorf("%d rows spooled again", n)
	}
}

// TestStdinEncodingsAndInvalidUTF8: stdin honours encoding (latin1) and a UTF-16 BOM, and
// dead-letters invalid UTF-8 with its line; no U+FFFD reaches a row.
func TestStdinEncodingsAndInvalidUTF8(t *testing.T) {
	tests := []struct {
		name, encoding string
		in             string
		rows, dead     []string
	}{
		{"invalid utf-8", "", "{\"n\":1}\n{\"n\":2,\"s\":\"M\xfcller\"}\n{\"n\":3}\n", []string{`{"n":1}`, `{"n":3}`}, []string{"stdin:2"}},
		{"latin1", "latin1", "{\"n\":1,\"s\":\"M\xfcller\"}\n", []string{`{"n":1}`}, nil},
		{"utf-16 BOM", "", "\xff\xfe{\x00\"\x00n\x00\"\x00:\x004\x00}\x00\n\x00", []string{`{"n":4}`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newRealEnv(t)
			src := e.source(t, config.Source{Type: "stdin", Table: "D/T", Format: "jsonl", Encoding: tc.encoding},
				func(o *filesrc.Options) { o.Stdin = strings.NewReader(tc.in) })
			runUntilDone(t, src)
			if got := e.rows(t); !slices.Equal(got, tc.rows) {
				t.Errorf("rows %q, want %q", got, tc.rows)
			}
			if got := e.deadPositions(t); !slices.Equal(got, tc.dead) {
				t.Errorf("dead letters at %q, want %q", got, tc.dead)
			}
		})
	}
}

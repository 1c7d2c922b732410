//go:build unix

package filesrc_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest/filesrc"
)

// fileCheckpoint builds the checkpoint value of the file at path with offset.
func fileCheckpoint(t *testing.T, path string, offset int64) []byte {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	b, err := json.Marshal(map[string]any{"dev": uint64(st.Dev), "ino": st.Ino, "offset": offset})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnce(t *testing.T) {
	const three = "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n"
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string, e *realEnv) []string // returns the globs
		want  []string                                            // spooled rows, in order
		dead  []string                                            // dead-letter positions, relative to dir
		// checkpoints maps a file name to the offset its checkpoint must end at.
		checkpoints map[string]int64
	}{
		{
			name: "all lines and a last line without newline",
			setup: func(t *testing.T, dir string, _ *realEnv) []string {
				writeFile(t, filepath.Join(dir, "a.log"), three+"{\"n\":3}")
				return []string{filepath.Join(dir, "*.log")}
			},
			want:        []string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`},
			checkpoints: map[string]int64{"a.log": int64(len(three) + 7)},
		},
		{
			name: "resumes after the checkpoint of the same file",
			setup: func(t *testing.T, dir string, e *realEnv) []string {
				p := filepath.Join(dir, "a.log")
				writeFile(t, p, three)
				setMeta(t, e, p, fileCheckpoint(t, p, 16))
				return []string{p}
			},
			want:        []string{`{"n":2}`},
			checkpoints: map[string]int64{"a.log": 24},
		},
		{
			name: "checkpoint of another file at the path: the new file is read from 0",
			setup: func(t *testing.T, dir string, e *realEnv) []string {
				old, p := filepath.Join(dir, "old"), filepath.Join(dir, "a.log")
				writeFile(t, old, three)
				writeFile(t, p, three)
				setMeta(t, e, p, fileCheckpoint(t, old, 16))
				return []string{p}
			},
			want:        []string{`{"n":0}`, `{"n":1}`, `{"n":2}`},
			checkpoints: map[string]int64{"a.log": 24},
		},
		{
			name: "rotated file found by the glob resumes at the old path's checkpoint",
			setup: func(t *testing.T, dir string, e *realEnv) []string {
				p, rotated := filepath.Join(dir, "a.log"), filepath.Join(dir, "a.log.1")
				writeFile(t, p, three)
				setMeta(t, e, p, fileCheckpoint(t, p, 8))
				if err := os.Rename(p, rotated); err != nil {
					t.Fatal(err)
				}
				writeFile(t, p, "{\"n\":9}\n")
				return []string{p + "*"}
			},
			want:        []string{`{"n":9}`, `{"n":1}`, `{"n":2}`},
			checkpoints: map[string]int64{"a.log": 8, "a.log.1": 24},
		},
		{
			name: "file shorter than its checkpoint (truncated) is read from 0",
			setup: func(t *testing.T, dir string, e *realEnv) []string {
				p := filepath.Join(dir, "a.log")
				writeFile(t, p, "{\"n\":7}\n")
				setMeta(t, e, p, fileCheckpoint(t, p, 24))
				return []string{p}
			},
			want:        []string{`{"n":7}`},
			checkpoints: map[string]int64{"a.log": 8},
		},
		{
			name: "a bad line is delivered with its position and does not stop the good ones",
			setup: func(t *testing.T, dir string, _ *realEnv) []string {
				writeFile(t, filepath.Join(dir, "a.log"), "{\"n\":0}\nnot json\n{\"n\":2}\n")
				return []string{filepath.Join(dir, "a.log")}
			},
			want:        []string{`{"n":0}`, `{"n":2}`},
			dead:        []string{"a.log:2"},
			checkpoints: map[string]int64{"a.log": 25},
		},
		{
			name: "several globs, a file matched twice and a hard link are read once",
			setup: func(t *testing.T, dir string, _ *realEnv) []string {
				writeFile(t, filepath.Join(dir, "a.log"), "{\"n\":0}\n")
				writeFile(t, filepath.Join(dir, "b.log"), "{\"n\":1}\n")
				if err := os.Link(filepath.Join(dir, "b.log"), filepath.Join(dir, "c.log")); err != nil {
					t.Fatal(err)
				}
				return []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "*.log")}
			},
			want: []string{`{"n":0}`, `{"n":1}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, e := t.TempDir(), newRealEnv(t)
			globs := tc.setup(t, dir, e)
			runUntilDone(t, e.source(t, config.Source{Type: "file", Table: "D/T", Paths: globs}))
			if got := e.rows(t); !slices.Equal(got, tc.want) {
				t.Errorf("rows:\n got %q\nwant %q", got, tc.want)
			}
			var dead []string
			for _, d := range tc.dead {
				dead = append(dead, filepath.Join(dir, d))
			}
			if got := e.deadPositions(t); !slices.Equal(got, dead) {
				t.Errorf("dead letters at %q, want %q", got, dead)
			}
			for name, off := range tc.checkpoints {
				if got := e.checkpointOffset(t, filepath.Join(dir, name)); got != off {
					t.Errorf("checkpoint of %s = %d, want %d", name, got, off)
				}
			}
		})
	}
}

func setMeta(t *testing.T, e *realEnv, path string, val []byte) {
	t.Helper()
	if err := e.spool.SetMeta("file/"+path, val); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnceBatches(t *testing.T) {
	dir, rec := t.TempDir(), newRecorder()
	p := filepath.Join(dir, "big.log")
	appendLines(t, p, 0, 2500)
	src, err := filesrc.New(config.Source{Type: "file", Format: "jsonl", Paths: []string{p}}, filesrc.Options{
		Writer: rec, Checkpoints: rec, BatchSize: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, w := range rec.writes {
		if len(w.recs) == 0 || len(w.recs) > 1000 {
			t.Errorf("write %d has %d records, want 1..1000", i, len(w.recs))
		}
	}
	checkExactlyOnce(t, rec.raws(), 2500)
}

func TestNewRejects(t *testing.T) {
	rec := newRecorder()
	tests := []struct {
		name string
		cfg  config.Source
		opts filesrc.Options
		want string
	}{
		{"no writer", config.Source{Type: "stdin"}, filesrc.Options{}, "no record writer"},
		{"no paths", config.Source{Type: "file"}, filesrc.Options{Writer: rec, Checkpoints: rec}, "no paths"},
		{"bad glob", config.Source{Type: "file", Paths: []string{"a["}}, filesrc.Options{Writer: rec, Checkpoints: rec}, "syntax error"},
		{"no checkpoints", config.Source{Type: "file", Paths: []string{"x"}}, filesrc.Options{Writer: rec}, "no checkpoint reader"},
		{"wrong type", config.Source{Type: "kafka"}, filesrc.Options{Writer: rec}, "unsupported type"},
		{"unknown format", config.Source{Type: "stdin", Format: "xml"}, filesrc.Options{Writer: rec}, "unknown format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := filesrc.New(tc.cfg, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func newFileSource(t *testing.T, rec *recorder, cfg config.Source) *filesrc.Source {
	t.Helper()
	if cfg.Format == "" {
		cfg.Format = "jsonl"
	}
	src, err := filesrc.New(cfg, filesrc.Options{Writer: rec, Checkpoints: rec, PollInterval: pollInterval, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

//go:build unix

package filesrc_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest/filesrc"
)

const pollInterval = 5 * time.Millisecond

// TestFollowRotationAcrossRestart is the acceptance test at source level: a writer appends,
// rotates by rename and by copytruncate, and the source is restarted in between; every line
// is written exactly once.
func TestFollowRotationAcrossRestart(t *testing.T) {
	const (
		old      = 50   // lines in the file rotated away by rename
		fresh    = 3000 // lines of the new file before the restart
		down     = 3020 // lines up to this one are written while the source is stopped
		afterCut = 3025 // first lines after the copytruncate
		total    = 3100
	)
	dir, e := t.TempDir(), newRealEnv(t)
	p := filepath.Join(dir, "app.log")
	cfg := config.Source{Type: "file", Table: "D/T", Paths: []string{p}, Follow: true}
	small := func(o *filesrc.Options) { o.BatchSize = 100 }
	run1 := start(t, e.source(t, cfg, small).Run)

	appendLines(t, p, 0, old)
	e.waitRows(t, 1) // the source has the file open
	// Rename rotation right after writing: the source has not necessarily read all lines of the
	// old file; it must finish them from the renamed file before the new one.
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, p, old, fresh)
	e.waitRows(t, old+20)
	if err := run1.stop(t); err != nil { // most likely in the middle of the new file
		t.Fatalf("first run: %v", err)
	}
	t.Logf("restart after %d of %d rows", e.spool.Backlog(queue).Rows, fresh)
	e.reopen(t)

	appendLines(t, p, fresh, down)
	run2 := start(t, e.source(t, cfg, small).Run)
	e.waitRows(t, down)

	// copytruncate once the source has caught up (lines not read before the truncation would
	// live only in the copy), then fewer bytes than before so the truncation is seen.
	copyFile(t, p, p+".2")
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, p, down, afterCut)
	e.waitRows(t, afterCut)
	appendLines(t, p, afterCut, total)
	e.waitRows(t, total)
	if err := run2.stop(t); err != nil {
		t.Fatalf("second run: %v", err)
	}
	checkExactlyOnce(t, e.rows(t), total)
}

// TestFollowGlobMatchingRotatedFiles: the glob also matches the rotated name, the old file keeps
// receiving lines after the rename, and the source is restarted after the rotation. The
// renamed file must continue where the old path stopped, not be read again.
func TestFollowGlobMatchingRotatedFiles(t *testing.T) {
	dir, e := t.TempDir(), newRealEnv(t)
	p := filepath.Join(dir, "app.log")
	cfg := config.Source{Type: "file", Paths: []string{p + "*"}, Follow: true}
	old, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	run1 := start(t, e.source(t, cfg).Run)
	writeLines(t, old, 0, 30)
	e.waitRows(t, 10)
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	writeLines(t, old, 30, 40) // the writer has not reopened yet
	appendLines(t, p, 40, 60)
	e.waitRows(t, 60)
	if err := run1.stop(t); err != nil {
		t.Fatal(err)
	}
	e.reopen(t)
	writeLines(t, old, 60, 70)
	appendLines(t, p, 70, 80)
	run2 := start(t, e.source(t, cfg).Run)
	e.waitRows(t, 80)
	if err := run2.stop(t); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, e.rows(t), 80)
}

// TestFollowWaitsForTheNewline: a line without its newline is not written while following,
// and the restarted source delivers it once, complete.
func TestFollowWaitsForTheNewline(t *testing.T) {
	dir, e := t.TempDir(), newRealEnv(t)
	p := filepath.Join(dir, "a.log")
	writeFile(t, p, "{\"n\":0}\n{\"n\":")
	cfg := config.Source{Type: "file", Paths: []string{p}, Follow: true}
	run1 := start(t, e.source(t, cfg).Run)
	e.waitRows(t, 1)
	if err := run1.stop(t); err != nil {
		t.Fatal(err)
	}
	e.reopen(t)
	if got := e.checkpointOffset(t, p); got != 8 {
		t.Errorf("checkpoint %d, want 8 (just past the complete line)", got)
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("1}\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run2 := start(t, e.source(t, cfg).Run)
	e.waitRows(t, 2)
	if err := run2.stop(t); err != nil {
		t.Fatal(err)
	}
	if got, want := e.rows(t), []string{`{"n":0}`, `{"n":1}`}; !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
}

// TestFollowPicksUpNewFiles: files created after the start that match the glob are read.
func TestFollowPicksUpNewFiles(t *testing.T) {
	dir, e := t.TempDir(), newRealEnv(t)
	cfg := config.Source{Type: "file", Paths: []string{filepath.Join(dir, "*.log")}, Follow: true}
	run := start(t, e.source(t, cfg).Run)
	appendLines(t, filepath.Join(dir, "a.log"), 0, 5)
	e.waitRows(t, 5)
	appendLines(t, filepath.Join(dir, "b.log"), 5, 10)
	appendLines(t, filepath.Join(dir, "a.log"), 10, 15)
	appendLines(t, filepath.Join(dir, "skip.txt"), 100, 101)
	e.waitRows(t, 15)
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, e.rows(t), 15)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}

// TestFollowTruncationDropsHalfLine: after a truncation the half line read before it is not
// delivered, and the file is read again from its start.
func TestFollowTruncationDropsHalfLine(t *testing.T) {
	dir, e := t.TempDir(), newRealEnv(t)
	p := filepath.Join(dir, "a.log")
	writeFile(t, p, "{\"n\":0}\n{\"n\":")
	run := start(t, e.source(t, config.Source{Type: "file", Paths: []string{p}, Follow: true}).Run)
	e.waitRows(t, 1)
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, p, 1, 2)
	e.waitRows(t, 2)
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	if got, want := e.rows(t), []string{`{"n":0}`, `{"n":1}`}; !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
	if dead := e.deadPositions(t); len(dead) != 0 {
		t.Errorf("dead letters at %q, want none (a half line was delivered)", dead)
	}
	if got := e.checkpointOffset(t, p); got != 8 {
		t.Errorf("checkpoint %d, want 8", got)
	}
}

// TestFollowCSVResumesAfterHeader: a followed CSV file resumes after a restart below its header.
func TestFollowCSVResumesAfterHeader(t *testing.T) {
	dir, e := t.TempDir(), newRealEnv(t)
	p := filepath.Join(dir, "a.csv")
	writeFile(t, p, "n\n0\n1\n")
	cfg := config.Source{Type: "file", Paths: []string{p}, Follow: true}
	run1 := start(t, e.source(t, cfg).Run)
	e.waitRows(t, 2)
	if err := run1.stop(t); err != nil {
		t.Fatal(err)
	}
	e.reopen(t)
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("2\n3\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run2 := start(t, e.source(t, cfg).Run)
	e.waitRows(t, 4)
	if err := run2.stop(t); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, e.rows(t), 4)
}

// Package spooltest opens real spool files for tests and checks them when the test ends: bbolt's
// tx.Check plus the spool's invariants (spool.Check), the way bbolt's own btesting does.
package spooltest

import (
	"errors"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Harness is one spool file in t.TempDir().
type Harness struct {
	T    testing.TB
	Path string
	Opts spool.Options
	S    *spool.Spool
}

// New opens a fresh spool (fsync on unless opts says otherwise) and registers a cleanup that
// runs Check and closes it.
func New(t testing.TB, opts spool.Options) *Harness {
	t.Helper()
	h := &Harness{T: t, Path: filepath.Join(t.TempDir(), "spool.db"), Opts: opts}
	h.open()
	t.Cleanup(h.cleanup)
	return h
}

// Reopen checks and closes the spool, then opens the same file again, as a restart does. Rows
// in flight at that moment come back ready (as after a crash).
func (h *Harness) Reopen() *spool.Spool {
	h.T.Helper()
	h.MustCheck()
	if err := h.S.Close(); err != nil {
		h.T.Fatalf("close: %v", err)
	}
	h.open()
	return h.S
}

// MustCheck fails the test if the spool's check reports anything.
func (h *Harness) MustCheck() {
	h.T.Helper()
	if err := h.S.Check(); err != nil {
		h.T.Fatalf("spool check: %v", err)
	}
}

func (h *Harness) open() {
	h.T.Helper()
	s, err := spool.Open(h.Path, h.Opts)
	if err != nil {
		h.T.Fatalf("open %s: %v", h.Path, err)
	}
	h.S = s
}

func (h *Harness) cleanup() {
	if err := h.S.Check(); err != nil && !errors.Is(err, spool.ErrClosed) {
		h.T.Errorf("spool check at cleanup: %v", err)
	}
	if err := h.S.Close(); err != nil {
		h.T.Errorf("close at cleanup: %v", err)
	}
}

// MountTmpfs mounts a tmpfs of size (e.g. "16m") on a fresh directory, unmounted at cleanup: a
// disk that really fills up. It skips the test, saying why, where mounting is refused (not root).
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("this test needs a small tmpfs; mount refused here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

package spool

import (
	"errors"
	"fmt"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// protect runs fn, which reads the file through bbolt's mapping, so that a damaged file cannot
// kill the process: a memory fault (a page past the end of the file, SIGBUS/SIGSEGV) becomes a
// panic on this goroutine (debug.SetPanicOnFault), and any panic (bbolt panics on some garbage
// pages) becomes an error wrapping errCorrupt. bbolt rolls its transaction back on a panic, so
// the handle stays usable.
func protect(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: reading the file failed: %v", errCorrupt, r)
		}
		debug.SetPanicOnFault(old)
	}()
	return fn()
}

// view and update run a bbolt transaction under protect: a damaged page met while the agent runs
// (a file that opened on its clean-shutdown marker is not fully checked) is an error, never the
// end of the process.
func (s *Spool) view(fn func(*bolt.Tx) error) error {
	return s.guard(func() error { return s.db.View(fn) })
}

func (s *Spool) update(fn func(*bolt.Tx) error) error {
	return s.guard(func() error { return s.db.Update(fn) })
}

// guard runs fn under protect. The first damage it meets is logged (ERROR, once) and makes
// Close skip the clean-shutdown marker, so the next start runs the full check and moves the
// file aside.
func (s *Spool) guard(fn func() error) error {
	err := protect(fn)
	if errors.Is(err, errCorrupt) && s.damaged.CompareAndSwap(false, true) {
		s.log.Error("spool file damaged: reading it failed; the next start checks it in full and moves it aside (recover its rows with `pbi-pusher spool salvage`)",
			"path", s.path, "err", err)
	}
	return err
}

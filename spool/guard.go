package spool

import (
	"fmt"
	"runtime/debug"
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

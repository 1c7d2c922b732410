package spool

import (
	"os"

	"golang.org/x/sys/unix"
)

// readAhead asks the kernel to read f into the page cache in the background (best effort).
func readAhead(f *os.File, size int64) { _ = unix.Fadvise(int(f.Fd()), 0, size, unix.FADV_WILLNEED) }

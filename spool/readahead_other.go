//go:build !linux

package spool

import "os"

// readAhead is a no-op where fadvise is not available.
func readAhead(*os.File, int64) {}

package ingest

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// StdinFile reports whether r (a source's stdin) is a regular file read from its start, such as
// `pbi-pusher backfill ... - < data.csv`, and returns its absolute path, so the file checkpoint
// shared with backfill and follow can be used. It needs /proc (Linux); false elsewhere.
func StdinFile(r io.Reader) (string, *os.File, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return "", nil, false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return "", nil, false
	}
	if pos, err := f.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
		return "", nil, false
	}
	path, err := os.Readlink("/proc/self/fd/" + strconv.FormatUint(uint64(f.Fd()), 10))
	if err != nil || !filepath.IsAbs(path) {
		return "", nil, false
	}
	if at, err := os.Stat(path); err != nil || !os.SameFile(at, fi) {
		return "", nil, false
	}
	return path, f, true
}

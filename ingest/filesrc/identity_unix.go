//go:build unix

package filesrc

import (
	"io/fs"
	"syscall"
)

// identitySupported is true: files are identified by device and inode.
const identitySupported = true

func idOf(fi fs.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)} //nolint:unconvert // Dev is int32 on some platforms
}

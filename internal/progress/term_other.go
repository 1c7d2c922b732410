//go:build !linux

package progress

import (
	"io"
	"os"
)

// IsTerminal reports whether w is a character device (an approximation off Linux).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Width returns 0 (unknown) off Linux.
func Width(io.Writer) int { return 0 }

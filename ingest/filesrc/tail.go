package filesrc

import (
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// endReason says why a tailReader stopped handing out bytes.
type endReason int

const (
	endEOF       endReason = iota // one-shot read reached the end, or a rotated file was drained
	endTruncated                  // the file shrank below the read position: read it again from 0
	endCanceled                   // the context ended
)

// errStopped is returned by a tailReader that stopped mid-file (truncation, cancellation). It is
// not io.EOF, so a decoder does not emit a half-read line as a record.
var errStopped = errors.New("file reader stopped")

// tailReader reads one open file from offset 0 for a decoder. In follow mode it waits at the end
// of the file for more bytes instead of returning io.EOF; it ends when the file is truncated,
// the context ends, or the path names another file (rotation) and the old one has been idle for
// a few polls.
type tailReader struct {
	ctx    context.Context //nolint:containedctx // Read has no context parameter
	f      *os.File
	path   string
	follow bool
	poll   time.Duration

	pos     int64
	idle    int  // polls without new bytes since the rotation was seen
	rotated bool // the path names another file (or none)
	reason  endReason
	stopped atomic.Bool
}

func newTailReader(ctx context.Context, f *os.File, path string, follow bool, poll time.Duration) *tailReader {
	return &tailReader{ctx: ctx, f: f, path: path, follow: follow, poll: poll}
}

// Read implements io.Reader.
func (t *tailReader) Read(p []byte) (int, error) {
	for {
		n, err := t.f.ReadAt(p, t.pos)
		if n > 0 {
			t.pos += int64(n)
			t.idle = 0
			return n, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if done, err := t.atEnd(); done {
			return 0, err
		}
	}
}

// atEnd decides, with no bytes left, whether the reader ends (and with what) or has waited a
// poll interval for more.
func (t *tailReader) atEnd() (bool, error) {
	if !t.follow {
		return true, t.stop(endEOF, io.EOF)
	}
	if _, size, err := statID(t.f); err != nil {
		return true, err
	} else if size < t.pos {
		return true, t.stop(endTruncated, errStopped)
	}
	if t.rotated || t.pathMoved() {
		t.rotated = true
		if t.idle++; t.idle > rotatedIdlePolls {
			return true, t.stop(endEOF, io.EOF)
		}
	}
	if !t.wait() {
		return true, t.stop(endCanceled, errStopped)
	}
	return false, nil
}

// pathMoved reports whether the path no longer names the open file.
func (t *tailReader) pathMoved() bool {
	own, _, err := statID(t.f)
	if err != nil {
		return false
	}
	cur, err := pathID(t.path)
	return err != nil || cur != own
}

func (t *tailReader) wait() bool {
	timer := time.NewTimer(t.poll)
	defer timer.Stop()
	select {
	case <-t.ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func (t *tailReader) stop(r endReason, err error) error {
	t.reason = r
	t.stopped.Store(true)
	return err
}

// halted reports whether the reader has ended; records decoded after that are discarded.
// Only a stop with errStopped discards: a decoder legitimately emits its last record at io.EOF.
func (t *tailReader) halted() bool {
	return t.stopped.Load() && t.reason != endEOF
}

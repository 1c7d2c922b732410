package spool

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultReserveBytes is the disk space admission keeps free for delivery (Options.ReserveBytes).
const DefaultReserveBytes int64 = 8 << 20

// diskPoll is how often a write paused by a full disk looks at the free space again.
const diskPoll = 200 * time.Millisecond

// isNoSpace reports whether err is the file system running out of space (or quota). bbolt wraps
// some errors with %s, so the message is checked too.
func isNoSpace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "no space left on device") || strings.Contains(msg, "disk quota exceeded")
}

// classifyWrite marks a failed write transaction that ran out of disk with ErrNoSpace and
// notes the condition (logged once when it starts).
func (s *Spool) classifyWrite(err error) error {
	if !isNoSpace(err) || errors.Is(err, ErrNoSpace) {
		return err
	}
	s.noteNoSpace(err)
	return fmt.Errorf("%w: %w", ErrNoSpace, err)
}

// diskAvail returns the bytes a write can still use: free space of the file system (for
// unprivileged users) plus the free pages inside the spool file, which bbolt reuses first.
func (s *Spool) diskAvail() (int64, error) {
	avail, err := s.fsAvail()
	if err != nil {
		return 0, err
	}
	s.dbmu.RLock()
	if s.db != nil {
		st := s.db.Stats()
		avail += int64(st.FreePageN) * int64(s.pageSize)
	}
	s.dbmu.RUnlock()
	return avail, nil
}

// fsAvail returns the free space of the spool's file system for unprivileged users.
func (s *Spool) fsAvail() (int64, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(s.path), &fs); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", filepath.Dir(s.path), err)
	}
	return int64(fs.Bavail) * int64(fs.Bsize), nil
}

// diskEstimate is the disk a write may take: bbolt pages are at most half empty after splits,
// and dead letters and checkpoints take space too.
func diskEstimate(w Write) int64 {
	n := int64(0)
	for _, r := range w.Rows {
		n += int64(len(r)) + 16
	}
	for _, d := range w.DeadLetters {
		n += int64(len(d.Data)+len(d.Reason)+len(d.Position)) + 128
	}
	for k, v := range w.Checkpoints {
		n += int64(len(k) + len(v))
	}
	return 2*n + 4096
}

// diskRoom reports whether a write estimated at est bytes fits while keeping the reserve free,
// and logs the transitions of the "disk full" state.
func (s *Spool) diskRoom(est int64) bool {
	avail, err := s.diskAvail()
	if err != nil {
		return true // cannot tell: let the write try (a real ENOSPC is still handled)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	need := s.opts.ReserveBytes
	if !s.st.lowDiskSince.IsZero() {
		need += max(s.opts.ReserveBytes/2, 1<<20) // resume with a margin, so the state does not flap
	}
	ok := avail-est-s.st.diskReserved >= need
	if s.st.failAvail >= 0 && avail <= s.st.failAvail+s.opts.ReserveBytes {
		ok = false // a write already failed with this much free: wait for more
	}
	s.setLowDiskLocked(!ok, avail, nil)
	return ok
}

// noteNoSpace records that a write failed with ENOSPC.
func (s *Spool) noteNoSpace(err error) {
	avail, _ := s.diskAvail()
	s.mu.Lock()
	s.st.failAvail = avail
	s.setLowDiskLocked(true, avail, err)
	s.mu.Unlock()
}

// setLowDiskLocked switches the "disk full" state, logging each transition once. Holds mu.
func (s *Spool) setLowDiskLocked(low bool, avail int64, cause error) {
	if low == !s.st.lowDiskSince.IsZero() {
		return
	}
	if low {
		s.st.lowDiskSince = s.now()
		s.st.lowDiskEvents++
		args := []any{"path", s.path, "available_bytes", avail, "reserve_bytes", s.opts.ReserveBytes}
		if cause != nil {
			args = append(args, "err", cause)
		}
		s.log.Warn("spool: disk full: ingest paused, delivery continues in the reserved space; resumes by itself when space returns", args...)
		return
	}
	s.st.failAvail = -1
	s.log.Info("spool: disk space available again: ingest resumed", "path", s.path, "available_bytes", avail,
		"paused_for", s.now().Sub(s.st.lowDiskSince).Round(time.Millisecond).String())
	s.st.lowDiskSince = time.Time{}
}

// diskLow reports the "disk full" state, looking at the file system again when it is set.
func (s *Spool) diskLow() bool {
	s.mu.Lock()
	low := !s.st.lowDiskSince.IsZero()
	s.mu.Unlock()
	if !low {
		return false
	}
	return !s.diskRoom(0)
}

// waitRoom waits after a write found no disk space: until rows are freed, diskPoll passes, ctx
// ends (ErrFull wrapping ErrNoSpace) or the spool closes.
func (s *Spool) waitRoom(ctx context.Context) error {
	s.mu.Lock()
	space := s.space
	s.mu.Unlock()
	t := time.NewTimer(diskPoll)
	defer t.Stop()
	select {
	case <-space:
	case <-t.C:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w: less than spool.reserve_bytes (%d) free on disk: %w", ErrFull, ErrNoSpace, s.opts.ReserveBytes, ctx.Err())
	case <-s.stop:
		return ErrClosed
	}
	return nil
}

// retryNoSpace runs op until it succeeds, fails for another reason, the spool closes, or
// maxWait passes, waiting between attempts. Delivery (Take's marks, Ack, Nack, Reject) runs in
// the reserve, so this only matters when something else filled the disk.
func (s *Spool) retryNoSpace(maxWait time.Duration, op func() error) error {
	deadline := time.Now().Add(maxWait)
	wait := 50 * time.Millisecond
	for {
		err := op()
		if !errors.Is(err, ErrNoSpace) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-time.After(wait):
		case <-s.stop:
			return err
		}
		wait = min(2*wait, time.Second)
	}
}

package spool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Group commit limits: one transaction gathers at most this many Append calls or bytes.
const (
	maxGroupReqs  = 1024
	maxGroupBytes = 32 << 20
)

// appendReq is one Append waiting for the commit loop.
type appendReq struct {
	w     Write
	bytes int64
	disk  int64 // diskEstimate(w)
	done  chan error
}

// Write is one durable unit: rows for one queue, dead letters and source checkpoints, committed
// in a single transaction.
type Write struct {
	Queue       QueueKey
	Rows        [][]byte          // row JSON objects (from schema)
	Positions   []string          // optional: each row's source position (len(Rows) or nil)
	DeadLetters []DeadLetter      // rows that failed decoding or the schema
	Checkpoints map[string][]byte // metadata keys written in the same transaction (nil = none)
}

// Append durably commits w. It returns only after the transaction is fsynced. Concurrent callers
// share fsyncs (group commit: one goroutine commits every Write waiting at that moment in one
// transaction). When full it blocks (until ctx ends: ErrFull) or drops the oldest ready rows,
// per Options.WhenFull. Once a Write is handed to the commit loop Append waits for its outcome
// even if ctx ends, so a nil error always means durable and an error means not written.
func (s *Spool) Append(ctx context.Context, w Write) error {
	if err := validateWrite(w); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.appends.Done()
	for {
		r := &appendReq{w: w, bytes: writeBytes(w), disk: diskEstimate(w), done: make(chan error, 1)}
		if err := s.admit(ctx, r.bytes, r.disk); err != nil {
			return err
		}
		select {
		case s.reqs <- r:
		case <-ctx.Done():
			s.release(r.bytes, r.disk)
			return fmt.Errorf("spool: append to %s: %w", w.Queue, ctx.Err())
		}
		err := <-r.done
		if !errors.Is(err, ErrNoSpace) {
			return err
		}
		// Nothing was written: wait for disk space like for room under the cap, then retry.
		if err := s.waitRoom(ctx); err != nil {
			return err
		}
	}
}

func validateWrite(w Write) error {
	if len(w.Rows) > 0 && (w.Queue.Dataset == "" || w.Queue.Table == "") {
		return fmt.Errorf("spool: append: queue %q: dataset and table are required", w.Queue)
	}
	if strings.ContainsRune(w.Queue.Dataset, 0) || strings.ContainsRune(w.Queue.Table, 0) {
		return fmt.Errorf("spool: append: queue %q: names must not contain NUL", w.Queue)
	}
	if w.Positions != nil && len(w.Positions) != len(w.Rows) {
		return fmt.Errorf("spool: append: %d positions for %d rows", len(w.Positions), len(w.Rows))
	}
	for k := range w.Checkpoints {
		if k == "" {
			return errors.New("spool: append: empty checkpoint key")
		}
	}
	return nil
}

func writeBytes(w Write) int64 {
	var n int64
	for _, r := range w.Rows {
		n += int64(len(r))
	}
	return n
}

// enter registers a running Append, or fails when the spool is closed.
func (s *Spool) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.appends.Add(1)
	return nil
}

// Full reports whether Append would wait for room: when_full=block and the row bytes in the
// spool (plus writes being admitted) reached MaxBytes, or (with either policy) the disk has
// less than Options.ReserveBytes free. HTTP ingest answers 503 + Retry-After while it is true.
func (s *Spool) Full() bool {
	if s.diskLow() {
		return true
	}
	if s.opts.WhenFull == WhenFullDropOldest {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.used+s.st.reserved >= s.opts.MaxBytes
}

// admit reserves n row bytes and disk bytes of disk estimate. With block it waits for room under
// the cap; a write larger than the whole cap is admitted when the spool is empty, so it cannot
// wait forever. drop_oldest always admits under the cap: the commit makes room. With either
// policy it waits while the write would eat into the disk reserve (Options.ReserveBytes):
// that space is kept for Take, Ack and the POST log, so delivery never stops on a full disk.
func (s *Spool) admit(ctx context.Context, n, disk int64) error {
	for {
		s.mu.Lock()
		total := s.st.used + s.st.reserved
		capOK := n == 0 || s.opts.WhenFull == WhenFullDropOldest || total+n <= s.opts.MaxBytes || total == 0
		space := s.space
		s.mu.Unlock()
		if capOK && s.diskRoom(disk) {
			s.mu.Lock()
			s.st.reserved += n
			s.st.diskReserved += disk
			s.mu.Unlock()
			return nil
		}
		var poll <-chan time.Time
		if capOK { // waiting for disk: nothing may signal it, look again
			poll = time.After(diskPoll)
		}
		select {
		case <-space:
		case <-poll:
		case <-ctx.Done():
			if capOK {
				return fmt.Errorf("%w: %w: less than spool.reserve_bytes (%d) free on disk: %w", ErrFull, ErrNoSpace, s.opts.ReserveBytes, ctx.Err())
			}
			return fmt.Errorf("%w: %d of %d bytes used: %w", ErrFull, total, s.opts.MaxBytes, ctx.Err())
		case <-s.stop:
			return ErrClosed
		}
	}
}

// release gives back a reservation that was not committed.
func (s *Spool) release(n, disk int64) {
	s.mu.Lock()
	s.st.reserved -= n
	s.st.diskReserved -= disk
	s.mu.Unlock()
}

// freed wakes Appends waiting for room. Call with mu held.
func (s *Spool) freedLocked() {
	close(s.space)
	s.space = make(chan struct{})
}

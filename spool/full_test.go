package spool_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
	"github.com/pbi-pusher/pbi-pusher/spool/spooltest"
)

// Rows from rows() are 12 bytes: a cap of 36 holds three.
const capThreeRows = 36

func TestFullBlockWaitsForAck(t *testing.T) {
	h := spooltest.New(t, spool.Options{MaxBytes: capThreeRows})
	mustAppend(t, h.S, qA, rows("a", 3))
	if !h.S.Full() {
		t.Fatal("Full() = false with the cap reached")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := h.S.Append(ctx, spool.Write{Queue: qA, Rows: rows("b", 1)})
	if !errors.Is(err, spool.ErrFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append while full: %v, want ErrFull wrapping the deadline", err)
	}
	done := make(chan error, 1)
	go func() { done <- h.S.Append(context.Background(), spool.Write{Queue: qA, Rows: rows("c", 1)}) }()
	b := mustTake(t, h.S, qA, 1, 0)
	select {
	case err := <-done:
		t.Fatalf("append returned (%v) while the spool was full and nothing was acked", err)
	default:
	}
	must(t, h.S.Ack(b))
	must(t, <-done)
	if got := h.S.Stats(); got.Bytes != capThreeRows || got.Dropped != 0 {
		t.Fatalf("after ack+append: %d bytes, %d dropped; want %d, 0", got.Bytes, got.Dropped, capThreeRows)
	}
}

func TestFullBlockRejectFreesRoom(t *testing.T) {
	h := spooltest.New(t, spool.Options{MaxBytes: capThreeRows})
	mustAppend(t, h.S, qA, rows("a", 3))
	done := make(chan error, 1)
	go func() { done <- h.S.Append(context.Background(), spool.Write{Queue: qA, Rows: rows("c", 1)}) }()
	must(t, h.S.Reject(mustTake(t, h.S, qA, 1, 0), "400"))
	must(t, <-done)
}

func TestFullBlockCloseReleasesWaiters(t *testing.T) {
	h := spooltest.New(t, spool.Options{MaxBytes: capThreeRows})
	mustAppend(t, h.S, qA, rows("a", 3))
	done := make(chan error, 1)
	go func() { done <- h.S.Append(context.Background(), spool.Write{Queue: qA, Rows: rows("c", 1)}) }()
	must(t, h.S.Close())
	if err := <-done; !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("blocked append after close: %v, want ErrClosed", err)
	}
}

func TestFullOversizedWriteIntoEmptySpool(t *testing.T) {
	h := spooltest.New(t, spool.Options{MaxBytes: 10})
	mustAppend(t, h.S, qA, rows("a", 5)) // 60 bytes > cap, but the spool is empty: must not wait forever
	if got := h.S.Backlog(qA).Rows; got != 5 {
		t.Fatalf("backlog %d", got)
	}
}

func TestFullDropOldest(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, s *spool.Spool, clk *clock)
		appendQ  spool.QueueKey
		wantA    []string
		wantB    []string
		dropped  int64
		inflight int
	}{
		{"drops oldest of the same queue", func(t *testing.T, s *spool.Spool, clk *clock) {
			mustAppend(t, s, qA, rows("a", 3))
		}, qA, []string{`{"id":"a-2"}`, `{"id":"x-0"}`, `{"id":"x-1"}`}, nil, 2, 0},
		{"drops oldest across queues by age", func(t *testing.T, s *spool.Spool, clk *clock) {
			mustAppend(t, s, qB, rows("b", 1))
			clk.Add(time.Second)
			mustAppend(t, s, qA, rows("a", 2))
		}, qA, []string{`{"id":"a-1"}`, `{"id":"x-0"}`, `{"id":"x-1"}`}, nil, 2, 0},
		{"never drops rows in flight", func(t *testing.T, s *spool.Spool, clk *clock) {
			mustAppend(t, s, qA, rows("a", 3))
			mustTake(t, s, qA, 2, 0)
		}, qA, []string{`{"id":"x-0"}`, `{"id":"x-1"}`}, nil, 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			h := spooltest.New(t, spool.Options{MaxBytes: capThreeRows, WhenFull: spool.WhenFullDropOldest, Now: clk.Now})
			tc.setup(t, h.S, clk)
			clk.Add(time.Second)
			mustAppend(t, h.S, tc.appendQ, rows("x", 2))
			if h.S.Full() {
				t.Fatal("Full() with drop_oldest: Append never waits, so it must report false")
			}
			st := h.S.Stats()
			if st.Dropped != tc.dropped || st.InFlight != tc.inflight {
				t.Fatalf("dropped %d in flight %d, want %d, %d", st.Dropped, st.InFlight, tc.dropped, tc.inflight)
			}
			h.MustCheck()
			if got := ids(mustTake(t, h.S, qA, 0, 0)); !slices.Equal(got, tc.wantA) {
				t.Fatalf("queue A %q, want %q", got, tc.wantA)
			}
			if got := ids(mustTake(t, h.S, qB, 0, 0)); !slices.Equal(got, tc.wantB) {
				t.Fatalf("queue B %q, want %q", got, tc.wantB)
			}
			if got := h.Reopen().Stats().Dropped; got != tc.dropped {
				t.Fatalf("dropped after reopen %d, want %d (persisted)", got, tc.dropped)
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []spool.Options{{WhenFull: "spill"}, {MaxBytes: -1}} {
		if s, err := spool.Open(t.TempDir()+"/s.db", o); err == nil {
			_ = s.Close()
			t.Errorf("Open accepted %+v", o)
		}
	}
}

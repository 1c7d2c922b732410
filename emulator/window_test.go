package emulator

import (
	"testing"
	"time"
)

func TestWindowWait(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type add struct {
		at time.Duration
		n  int64
	}
	tests := []struct {
		name   string
		adds   []add
		now    time.Duration
		n      int64
		limit  int64
		want   time.Duration
		wantSz int64
	}{
		{"empty admits", nil, 0, 5, 5, 0, 0},
		{"under limit", []add{{0, 2}}, time.Second, 3, 5, 0, 2},
		{"oldest must leave", []add{{0, 3}, {10 * time.Second, 2}}, 20 * time.Second, 1, 5, 40 * time.Second, 5},
		{"two must leave", []add{{0, 3}, {10 * time.Second, 2}}, 20 * time.Second, 4, 5, 50 * time.Second, 5},
		{"expired at exactly span", []add{{0, 5}}, time.Minute, 5, 5, 0, 0},
		{"one nanosecond before", []add{{0, 5}}, time.Minute - 1, 1, 5, 1, 5},
		{"request larger than limit", []add{}, 0, 6, 5, time.Minute, 0},
		{"coalesced same instant", []add{{0, 1}, {0, 1}, {0, 1}}, 0, 1, 3, time.Minute, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWindow(time.Minute)
			for _, a := range tc.adds {
				w.add(at(a.at), a.n)
			}
			if got := w.wait(at(tc.now), tc.n, tc.limit); got != tc.want {
				t.Fatalf("wait = %v, want %v", got, tc.want)
			}
			if got := w.total(at(tc.now)); got != tc.wantSz {
				t.Fatalf("total = %d, want %d", got, tc.wantSz)
			}
		})
	}
}

func TestWindowPeakAndCompaction(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := newWindow(time.Minute)
	for i := range 10000 { // one event per second for 10,000 s: at most 60 in the window
		w.add(t0.Add(time.Duration(i)*time.Second), 1)
	}
	if w.peak != 60 || w.total(t0.Add(9999*time.Second)) != 60 {
		t.Fatalf("peak %d total %d, want 60", w.peak, w.sum)
	}
	if live := len(w.events) - w.head; live != 60 || len(w.events) > 200 {
		t.Fatalf("deque holds %d events (%d live); compaction failed", len(w.events), live)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int64
	}{{1, 1}, {time.Second, 1}, {time.Second + 1, 2}, {3527500 * time.Millisecond, 3528}, {0, 1}}
	for _, tc := range tests {
		if got := retryAfterSeconds(tc.d); got != tc.want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

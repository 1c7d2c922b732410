package batcher

import (
	"testing"
	"time"
)

// The service stamps a POST when it arrives, which may be as late as its response: a POST counts
// locally until a span after its outcome came back, and indefinitely while in flight, so a slow
// request never lets the next POST in while the service still counts the slow one.
func TestWindowCountsUntilTheOutcome(t *testing.T) {
	s := time.Second
	var w window
	slow := w.send(t0, 10)
	w.finish(slow, t0.Add(5*s)) // the service may have stamped it at t0+5s
	fast := w.send(t0.Add(10*s), 10)
	w.finish(fast, t0.Add(10*s+time.Millisecond))

	now := t0.Add(61 * s) // past at+span, not past done+span
	w.prune(now)
	if got := w.posts(now, minute); got != 2 {
		t.Errorf("posts at +61s = %d, want 2 (the slow POST still counts)", got)
	}
	if got := w.countWait(now, minute, 2); got != 4*s {
		t.Errorf("countWait at +61s = %v, want 4s (until the slow POST's outcome + 1m)", got)
	}
	if got := w.rowsWait(now, 15, 25); got != time.Hour-56*s {
		t.Errorf("rowsWait at +61s = %v, want %v", got, time.Hour-56*s)
	}
	now = t0.Add(65 * s)
	if got := w.posts(now, minute); got != 1 {
		t.Errorf("posts at +65s = %d, want 1", got)
	}

	var f window
	f.send(t0, 10) // never finishes
	now = t0.Add(2 * time.Hour)
	f.prune(now)
	if got := f.posts(now, minute); got != 1 || f.rows != 10 {
		t.Errorf("a POST in flight for 2h: posts %d, rows %d; want 1, 10 (it still counts)", got, f.rows)
	}
	if got := f.countWait(now, minute, 1); got != minute {
		t.Errorf("countWait with the only POST in flight = %v, want 1m (the earliest it can expire)", got)
	}
}

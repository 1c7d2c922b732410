package emulator

import "time"

// event is n units (posts or rows) admitted at t.
type event struct {
	t time.Time
	n int64
}

// window is a rolling window of events over span: an event at t counts while now-t < span.
// Events live in a deque (slice + head), so add and prune are amortised O(1); the peak of the
// rolling sum is kept because the sum only grows when an event is added.
type window struct {
	span   time.Duration
	events []event
	head   int
	sum    int64
	peak   int64
}

func newWindow(span time.Duration) *window { return &window{span: span} }

// prune drops the events that left the window at now.
func (w *window) prune(now time.Time) {
	for w.head < len(w.events) && now.Sub(w.events[w.head].t) >= w.span {
		w.sum -= w.events[w.head].n
		w.head++
	}
	if w.head > 64 && w.head*2 >= len(w.events) {
		w.events = append(w.events[:0], w.events[w.head:]...)
		w.head = 0
	}
}

// total returns the window's sum at now.
func (w *window) total(now time.Time) int64 {
	w.prune(now)
	return w.sum
}

// add records n units at now and updates the peak.
func (w *window) add(now time.Time, n int64) {
	w.prune(now)
	if n == 0 {
		return
	}
	if last := len(w.events) - 1; last >= w.head && w.events[last].t.Equal(now) {
		w.events[last].n += n
	} else {
		w.events = append(w.events, event{t: now, n: n})
	}
	w.sum += n
	w.peak = max(w.peak, w.sum)
}

// wait returns how long until the window admits n more units under limit (0 = admits now).
// A request larger than limit can never be admitted; wait then returns the full span.
func (w *window) wait(now time.Time, n, limit int64) time.Duration {
	w.prune(now)
	excess := w.sum + n - limit
	if excess <= 0 {
		return 0
	}
	if n > limit {
		return w.span
	}
	for i := w.head; i < len(w.events); i++ {
		excess -= w.events[i].n
		if excess <= 0 {
			return w.events[i].t.Add(w.span).Sub(now)
		}
	}
	return w.span
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

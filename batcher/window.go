package batcher

import (
	"slices"
	"sort"
	"time"
)

// hour and minute are the spans of the service's rolling windows.
const (
	hour   = time.Hour
	minute = time.Minute
)

// entry is one POST sent: when, how many rows it still counts, and its id (increasing).
type entry struct {
	at   time.Time
	rows int
	id   uint64
}

// window is the exact log of the POSTs sent in the last hour. An entry counts while
// now-at < span and expires at at+span. Its length is bounded by the POSTs allowed per hour.
type window struct {
	entries []entry
	rows    int // sum of entries[i].rows
	nextID  uint64
}

// prune drops entries older than an hour.
func (w *window) prune(now time.Time) {
	k := 0
	for k < len(w.entries) && !now.Before(w.entries[k].at.Add(hour)) {
		w.rows -= w.entries[k].rows
		k++
	}
	w.entries = slices.Delete(w.entries, 0, k)
}

// add records a POST of rows at now and returns its id.
func (w *window) add(now time.Time, rows int) uint64 {
	w.nextID++
	w.entries = append(w.entries, entry{at: now, rows: rows, id: w.nextID})
	w.rows += rows
	return w.nextID
}

// refund stops counting the rows of POST id (the service did not accept them); the POST itself
// still counts. A pruned id is ignored.
func (w *window) refund(id uint64) {
	i, ok := slices.BinarySearchFunc(w.entries, id, func(e entry, id uint64) int {
		return compareUint(e.id, id)
	})
	if ok {
		w.rows -= w.entries[i].rows
		w.entries[i].rows = 0
	}
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// posts returns how many POSTs of the last span (≤ 1h) are still counting at now.
func (w *window) posts(now time.Time, span time.Duration) int {
	from := now.Add(-span)
	i := sort.Search(len(w.entries), func(i int) bool { return w.entries[i].at.After(from) })
	return len(w.entries) - i
}

// rowsWait returns how long until a POST of n rows fits under limit rows per hour.
func (w *window) rowsWait(now time.Time, n, limit int) time.Duration {
	excess := w.rows + n - limit
	if excess <= 0 {
		return 0
	}
	for _, e := range w.entries {
		excess -= e.rows
		if excess <= 0 {
			return max(0, e.at.Add(hour).Sub(now))
		}
	}
	return Forever // n > limit: never fits (the scheduler caps n first)
}

// countWait returns how long until one more POST fits under limit POSTs per span.
func (w *window) countWait(now time.Time, span time.Duration, limit int) time.Duration {
	c := w.posts(now, span)
	if c < limit {
		return 0
	}
	e := w.entries[len(w.entries)-limit] // the oldest POST that must expire
	return e.at.Add(span).Sub(now)
}

// acceptedRate returns the rows and POSTs per hour the service accepted (entries not refunded)
// since from, measured between the first and the last such POST; ok is false with fewer than two.
func (w *window) acceptedRate(from time.Time) (rowsPerHour, postsPerHour float64, ok bool) {
	i := sort.Search(len(w.entries), func(i int) bool { return w.entries[i].at.After(from) })
	var first, last time.Time
	rows, posts := 0, 0
	for _, e := range w.entries[i:] {
		if e.rows == 0 {
			continue
		}
		if posts > 0 {
			rows += e.rows // the first POST opens the interval; the rest fill it
		} else {
			first = e.at
		}
		last = e.at
		posts++
	}
	span := last.Sub(first).Hours()
	if posts < 2 || span <= 0 {
		return 0, 0, false
	}
	return float64(rows) / span, float64(posts-1) / span, true
}

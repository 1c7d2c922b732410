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

// entry is one POST sent: when it was sent, when its outcome came back (zero while in flight),
// how many rows it still counts, and its id (increasing).
type entry struct {
	at   time.Time
	done time.Time
	rows int
	id   uint64
}

// expires returns when e stops counting in a window of span, and false while e is in flight.
// The service stamps a POST when it arrives, somewhere between at and done; counting it until
// done+span keeps the local count at or above the service's whatever the request's latency (a
// POST stamped at at+span locally could still count at the service, and draw a 429).
func (e entry) expires(span time.Duration) (time.Time, bool) {
	if e.done.IsZero() {
		return time.Time{}, false
	}
	end := e.at
	if e.done.After(end) {
		end = e.done
	}
	return end.Add(span), true
}

// counts reports whether e counts at now in a window of span.
func (e entry) counts(now time.Time, span time.Duration) bool {
	exp, ok := e.expires(span)
	return !ok || now.Before(exp)
}

// window is the exact log of the POSTs that count in the rolling hour: sent, and not yet an hour
// past their outcome (see entry.expires). Its length is bounded by the POSTs allowed per hour plus
// the POSTs in flight. Entries are in send (and id) order.
type window struct {
	entries []entry
	rows    int // sum of entries[i].rows
	nextID  uint64
}

// prune drops the entries that no longer count in the hour.
func (w *window) prune(now time.Time) {
	w.entries = slices.DeleteFunc(w.entries, func(e entry) bool {
		if e.counts(now, hour) {
			return false
		}
		w.rows -= e.rows
		return true
	})
}

// add records a POST stamped at now (its outcome known: a POST of an earlier process, or the
// service's own stamp) and returns its id.
func (w *window) add(now time.Time, rows int) uint64 {
	id := w.send(now, rows)
	w.entries[len(w.entries)-1].done = now
	return id
}

// send records a POST of rows sent at now, in flight until finish, and returns its id.
func (w *window) send(now time.Time, rows int) uint64 {
	w.nextID++
	w.entries = append(w.entries, entry{at: now, rows: rows, id: w.nextID})
	w.rows += rows
	return w.nextID
}

// finish records that the outcome of POST id came back at now. A pruned id is ignored.
func (w *window) finish(id uint64, now time.Time) {
	if i, ok := w.find(id); ok && w.entries[i].done.IsZero() {
		w.entries[i].done = now
	}
}

func (w *window) find(id uint64) (int, bool) {
	return slices.BinarySearchFunc(w.entries, id, func(e entry, id uint64) int {
		return compareUint(e.id, id)
	})
}

// refund stops counting the rows of POST id (the service did not accept them); the POST itself
// still counts. A pruned id is ignored.
func (w *window) refund(id uint64) {
	if i, ok := w.find(id); ok {
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

// posts returns how many POSTs count at now in a window of span (≤ 1h).
func (w *window) posts(now time.Time, span time.Duration) int {
	n := 0
	for _, e := range w.entries {
		if e.counts(now, span) {
			n++
		}
	}
	return n
}

// rowsWait returns how long until a POST of n rows fits under limit rows per hour.
func (w *window) rowsWait(now time.Time, n, limit int) time.Duration {
	excess := w.rows + n - limit
	if excess <= 0 {
		return 0
	}
	for _, exp := range w.expiries(now, hour, func(e entry) bool { return e.rows > 0 }) {
		excess -= exp.rows
		if excess <= 0 {
			return max(0, exp.at.Sub(now))
		}
	}
	return Forever // n > limit: never fits (the scheduler caps n first)
}

// countWait returns how long until one more POST fits under limit POSTs per span.
func (w *window) countWait(now time.Time, span time.Duration, limit int) time.Duration {
	if limit < 1 {
		return Forever // none allowed (a share not settled yet; the caller looks again)
	}
	exps := w.expiries(now, span, func(entry) bool { return true })
	if len(exps) < limit {
		return 0
	}
	return max(0, exps[len(exps)-limit].at.Sub(now)) // the POST that must expire first
}

// expiry is when rows of the window stop counting.
type expiry struct {
	at   time.Time
	rows int
}

// expiries returns when each entry that counts at now in span (and passes keep) expires, soonest
// first. An entry in flight expires span after now at the earliest.
func (w *window) expiries(now time.Time, span time.Duration, keep func(entry) bool) []expiry {
	var out []expiry
	for _, e := range w.entries {
		if !keep(e) || !e.counts(now, span) {
			continue
		}
		exp, ok := e.expires(span)
		if !ok {
			exp = now.Add(span)
		}
		out = append(out, expiry{at: exp, rows: e.rows})
	}
	slices.SortStableFunc(out, func(a, b expiry) int { return a.at.Compare(b.at) })
	return out
}

// acceptedRate returns the rows and POSTs per hour the service accepted (entries not refunded)
// since from, measured between the first and the last such POST but over at least a minute: the
// windows let a greedy drain send a minute's POSTs at once, and such a burst is not a rate (over
// its few seconds it would read as many times the configured rate and keep AIMD from ever
// lowering it). ok is false with fewer than two.
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
	if posts < 2 {
		return 0, 0, false
	}
	span := max(last.Sub(first), minute).Hours()
	return float64(rows) / span, float64(posts-1) / span, true
}

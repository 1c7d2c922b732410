package batcher

import (
	"math"
	"slices"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Scale-out: several instances split one dataset's limits without talking to each other.
//
// # Share space
//
// The whole budget of a dataset (each per-dataset limit) is the interval [0,1). Each Kafka source
// feeding the dataset gets an equal slice, in configuration order: source k of K holds
// [k/K, (k+1)/K). Its slice is cut into one cell per partition of its subscribed topics (sorted by
// topic, then partition): partition p of T is [(k+p/T)/K, (k+(p+1)/T)/K). An instance holds the
// cells of the partitions its consumer group assigned to it. A group never assigns a partition to
// two members at once and every member runs the same configuration, so the cells held by the
// instances are disjoint and their sizes add up to at most 1 — and several sources feeding one
// dataset combine their shares instead of overwriting each other. A dataset without a Kafka
// source holds all of [0,1) from the start (one instance per dataset).
//
// # Rate limits
//
// An instance may use floor(L × h) of a limit L (POSTs per minute, POSTs per hour in the large
// tier, rows per hour), where h is the size of its cells. Rounding down keeps the sum over
// instances at or under L.
//
// A cell acquired less than a minute ago may still carry its previous holder's POSTs in the
// service's rolling minute (the previous holder cannot say so, and a killed one never will; a
// draining backlog spends a minute's budget at once, so nothing bounds when in that minute), so
// for POSTs per minute it counts only once it has been held for a minute. A cell stays acquired
// across a rebalance when the instance owns its partition again in the very next group
// generation (nobody else could have owned it in between), also across a restart of the process
// (its holding is persisted in the spool, savedHold); a later generation number, or a restart
// without the persisted holding, means someone else may have owned it, and it waits again. In a group's first
// generation (1) nobody owned anything before: nothing waits.
//
// The hourly limits do not ramp: withholding a new cell's hour for an hour would idle a new member
// for that long. Their sum holds at every instant for the shares held then; across a rebalance,
// rows or POSTs its previous holder sent in the last hour still count at the service, so an hour
// in which a cell changed hands can exceed the hourly limits by what the previous holder sent on
// it in excess of its pace (documented in the README).
//
// # Pending POSTs: time-sliced slots
//
// A count of POSTs in flight cannot be rounded down per instance once instances outnumber it
// (each would get 0). Instead the P pending slots are points that sweep share space: at time t,
// slot j sits at x_j(t) = (j + frac(t/R))/P, so each slot crosses its own 1/P of share space once
// every R (SlotPeriod), and at every instant each slot lies in exactly one cell: at most one
// instance holds it. An instance may start a POST on a slot it holds, that no POST of its own
// occupies, and that it will still hold for the guard time G (SlotGuard) — the POST is expected
// to be answered before the slot moves on to the next holder. Over time an instance holds
// P × (its share) slots on average, e.g. 5 × 1/12 = 0.42 slots: one slot 42% of the time. A cell
// acquired less than G ago holds no slot yet (its previous holder's last POST may be in flight).
// The sweep uses the wall clock: instances on hosts with synchronised clocks agree on x_j(t).

// Default slot timing.
const (
	DefaultSlotPeriod = 20 * time.Second
	DefaultSlotGuard  = 2 * time.Second
)

// Cell is the part of share space one partition stands for, [Lo, Hi).
type Cell struct{ Lo, Hi float64 }

// ShareSource identifies one Kafka source among those feeding a dataset.
type ShareSource struct {
	Index, Count int // source Index of Count, in configuration order
}

// Assignment is what a source's consumer group assigned to this instance.
type Assignment struct {
	Generation int32
	Partitions []int // indices among all partitions of the source's topics (sorted)
	Total      int   // partitions of the source's topics
}

// holding is this instance's part of share space: for each Kafka source, the cells it holds and
// when each was acquired.
type holding struct {
	full    bool // no Kafka source: all of [0,1), settled
	fixed   float64
	sources map[int]*sourceHold
	count   int
	period  time.Duration
	guard   time.Duration
}

type sourceHold struct {
	gen     int32
	revoked bool
	total   int
	cells   map[int]time.Time // partition → acquired at
	budgets map[int]*cellBudget
	// A previous process's holding (savedHold) only: this spool's POSTs since an hour and a
	// minute ago, and whether they could be read.
	posts  []spool.PostRecord
	logged bool
}

func newHolding(sources int, period, guard time.Duration) *holding {
	if period <= 0 {
		period = DefaultSlotPeriod
	}
	if guard <= 0 {
		guard = DefaultSlotGuard
	}
	guard = min(guard, period/2)
	return &holding{full: sources == 0, count: sources, sources: map[int]*sourceHold{}, period: period, guard: guard}
}

// assign records src's new assignment at now. prev, if not nil, is what this spool's previous
// process held (persisted): used when this process has held nothing of src yet.
//
// It returns the cells kept from prev whose buckets the caller rebuilds from prev's post log
// (nil if none).
func (h *holding) assign(now time.Time, src ShareSource, a Assignment, prev *sourceHold) *restart {
	if src.Count != h.count || src.Index < 0 || src.Index >= h.count {
		h.count = max(src.Count, 1)
		h.sources = map[int]*sourceHold{}
	}
	h.full = false
	old := h.sources[src.Index]
	if old == nil {
		old = prev
	}
	keep := old != nil && old.total == a.Total && a.Generation == old.gen+1
	// A group's first generation: nobody held a cell before, its hourly budgets start full.
	first := old == nil && a.Generation <= 1
	// Cells kept from this spool's previous process (prev, the very next generation): their
	// buckets are rebuilt from its post log (hourly.go, restore) when it could be read.
	var kept []*cellBudget
	since := time.Time{}
	restoring := keep && old == prev && prev.logged
	sh := &sourceHold{gen: a.Generation, total: a.Total, cells: map[int]time.Time{}, budgets: map[int]*cellBudget{}}
	for _, p := range a.Partitions {
		if p < 0 || p >= a.Total {
			continue
		}
		at, ok := time.Time{}, false
		if keep {
			at, ok = old.cells[p]
		}
		if !ok && a.Generation > 1 {
			at = now
		}
		sh.cells[p] = at // zero: settled
		if b := old.budget(p); keep && b != nil {
			sh.budgets[p] = b
			continue
		}
		// A new budget: full in a first generation; otherwise empty, filling once the cell
		// counts for the minute (hourly.go). A cell kept from the previous process (savedHold)
		// whose post log cannot be read starts empty too.
		c := h.cell(src.Index, p, a.Total)
		from := now
		if !first {
			from = now.Add(minute)
		}
		sh.budgets[p] = &cellBudget{size: c.Hi - c.Lo, full: first, from: from}
		if restoring && ok {
			kept = append(kept, sh.budgets[p])
			if !at.IsZero() { // acquired from someone else: its bucket filled from a minute later
				since = later(since, at.Add(minute))
			}
		}
	}
	h.sources[src.Index] = sh
	if len(kept) == 0 {
		return nil
	}
	return &restart{cells: kept, since: since, posts: prev.posts}
}

// restart is what a restarted process rebuilds of the buckets of the cells it keeps: the cells,
// the latest time one of them started filling (zero: all settled since a first generation), and
// this spool's POSTs (hourly.go, restore).
type restart struct {
	cells []*cellBudget
	since time.Time
	posts []spool.PostRecord
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// budget returns the hourly budget of partition p (nil if none).
func (sh *sourceHold) budget(p int) *cellBudget {
	if sh == nil {
		return nil
	}
	return sh.budgets[p]
}

// savedHold is a source's holding as persisted in the spool (SharePersist), so that a restarted
// process knows which cells its predecessor held and since when: its POSTs are restored from the
// spool (PostLog), so cells it keeps in the very next generation need not wait.
type savedHold struct {
	Generation int32         `json:"generation"`
	Total      int           `json:"total"`
	Acquired   map[int]int64 `json:"acquired"` // partition → unix nanoseconds; 0 = settled
}

func (sh *sourceHold) save() savedHold {
	sv := savedHold{Generation: sh.gen, Total: sh.total, Acquired: map[int]int64{}}
	for p, at := range sh.cells {
		if !at.IsZero() {
			sv.Acquired[p] = at.UnixNano()
		} else {
			sv.Acquired[p] = 0
		}
	}
	return sv
}

func (sv savedHold) hold() *sourceHold {
	sh := &sourceHold{gen: sv.Generation, total: sv.Total, cells: map[int]time.Time{}}
	for p, ns := range sv.Acquired {
		if ns != 0 {
			sh.cells[p] = time.Unix(0, ns)
		} else {
			sh.cells[p] = time.Time{}
		}
	}
	return sh
}

// revoke records that src's generation ended: it holds nothing until the next assignment, which
// keeps the acquisition times of the partitions it owns again if it is the next generation.
func (h *holding) revoke(src ShareSource) {
	if sh := h.sources[src.Index]; sh != nil {
		sh.revoked = true
	}
}

// setFixed makes the holding a settled fraction f of the budget (no Kafka source; tests and
// callers that split by hand).
func (h *holding) setFixed(f float64) {
	h.full, h.fixed, h.sources = false, min(max(f, 0), 1), nil
	h.count = 0
}

// cell returns the share-space cell of partition p of sh (source k).
func (h *holding) cell(k, p, total int) Cell {
	K := float64(h.count)
	return Cell{Lo: (float64(k) + float64(p)/float64(total)) / K, Hi: (float64(k) + float64(p+1)/float64(total)) / K}
}

// each calls f with every held cell and when it was acquired.
func (h *holding) each(f func(c Cell, at time.Time)) {
	switch {
	case h.full:
		f(Cell{0, 1}, time.Time{})
		return
	case h.sources == nil:
		if h.fixed > 0 {
			f(Cell{0, h.fixed}, time.Time{})
		}
		return
	}
	for k, sh := range h.sources {
		if sh.revoked || sh.total <= 0 {
			continue
		}
		for p, at := range sh.cells {
			f(h.cell(k, p, sh.total), at)
		}
	}
}

// size returns the share held now, whatever the ramps: the instance's part of the dataset.
func (h *holding) size() float64 {
	switch {
	case h.full:
		return 1
	case h.sources == nil:
		return h.fixed
	}
	s := 0.0
	for _, sh := range h.sources { // exact for whole sources: 6 of 6 partitions is 1, not 0.999…
		if !sh.revoked && sh.total > 0 {
			s += float64(len(sh.cells)) / float64(sh.total)
		}
	}
	return min(s/float64(h.count), 1)
}

// ramped returns the share usable at now in the window of span: a cell acquired less than span
// ago does not count yet (see the package comment), and whether one is still waiting.
func (h *holding) ramped(now time.Time, span time.Duration) (float64, bool) {
	s, ramping := 0.0, false
	h.each(func(c Cell, at time.Time) {
		if !at.IsZero() && now.Sub(at) < span {
			ramping = true
			return
		}
		s += c.Hi - c.Lo
	})
	return min(s, 1), ramping
}

// settledCells returns the cells held since at least the guard time, merged and sorted.
func (h *holding) settledCells(now time.Time) []Cell {
	var cs []Cell
	h.each(func(c Cell, at time.Time) {
		if at.IsZero() || !now.Before(at.Add(h.guard)) {
			cs = append(cs, c)
		}
	})
	slices.SortFunc(cs, func(a, b Cell) int {
		switch {
		case a.Lo < b.Lo:
			return -1
		case a.Lo > b.Lo:
			return 1
		}
		return 0
	})
	out := cs[:0]
	for _, c := range cs {
		if n := len(out); n > 0 && c.Lo <= out[n-1].Hi+1e-12 {
			out[n-1].Hi = max(out[n-1].Hi, c.Hi)
			continue
		}
		out = append(out, c)
	}
	return out
}

// covered reports whether [lo, hi] lies inside one of the merged cells cs.
func covered(cs []Cell, lo, hi float64) bool {
	for _, c := range cs {
		if c.Lo <= lo+1e-12 && hi <= c.Hi+1e-12 {
			return true
		}
	}
	return false
}

// slotPos returns where slot j of p sits at now.
func (h *holding) slotPos(now time.Time, j, p int) float64 {
	ph := float64(now.UnixNano()%int64(h.period)) / float64(h.period)
	return (float64(j) + ph) / float64(p)
}

// usable reports whether this instance may start a POST on slot j of p at now: it holds the slot
// now and for the guard time after (the slot's point stays inside settled cells).
func (h *holding) usable(cs []Cell, now time.Time, j, p int) bool {
	if len(cs) == 1 && cs[0].Lo <= 1e-12 && cs[0].Hi >= 1-1e-12 {
		return true // everything: every slot, always
	}
	x := h.slotPos(now, j, p)
	d := float64(h.guard) / float64(h.period) / float64(p)
	end := float64(j+1) / float64(p)
	if x+d < end {
		return covered(cs, x, x+d)
	}
	// The point wraps to the start of its segment within the guard time.
	return covered(cs, x, end) && covered(cs, float64(j)/float64(p), float64(j)/float64(p)+(x+d-end))
}

// freeSlot returns a slot this instance may start a POST on at now, not in busy, or -1 and how
// long until one may become usable.
func (h *holding) freeSlot(now time.Time, p int, busy func(int) bool) (int, time.Duration) {
	cs := h.settledCells(now)
	for j := range p {
		if !busy(j) && h.usable(cs, now, j, p) {
			return j, 0
		}
	}
	if len(cs) == 0 {
		return -1, h.nextSettle(now)
	}
	// Step through one period at a quarter of the guard time: the first step at which a free slot
	// becomes usable (a slot point moves 1/(P·R) of share space per unit of time).
	step := max(h.guard/4, time.Millisecond)
	for w := step; w <= h.period; w += step {
		for j := range p {
			if !busy(j) && h.usable(cs, now.Add(w), j, p) {
				return -1, w
			}
		}
	}
	return -1, min(h.period, h.nextSettle(now))
}

// nextSettle returns how long until a held cell passes its guard time (Forever if none will).
func (h *holding) nextSettle(now time.Time) time.Duration {
	w := Forever
	h.each(func(_ Cell, at time.Time) {
		if d := at.Add(h.guard).Sub(now); d > 0 {
			w = min(w, d)
		}
	})
	return w
}

// estimateRows is the table's rows when the service cannot be asked: own rows ÷ share, rounded
// up ("large"); any own row with no share known counts as the whole threshold reached.
func estimateRows(own int64, share float64) int64 {
	if own <= 0 {
		return 0
	}
	if share <= 0 {
		return math.MaxInt64
	}
	if share >= 1 {
		return own
	}
	return int64(math.Ceil(float64(own)/share - 1e-9))
}

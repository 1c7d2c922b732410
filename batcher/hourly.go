package batcher

import (
	"math"
	"slices"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Hourly limits across hand-overs: a token bucket per cell.
//
// The service counts rows per hour (and, past the large-table switch, POSTs per hour) over the
// whole dataset, and a cell's previous holder's rows of the last hour still count when the cell
// changes hands (a rebalance, a kill, a join). The new holder cannot know them, and holding back a
// new cell's hour for an hour would idle a joiner that long. Instead each cell's hourly budget
// B = L × (cell size) is spent through a token bucket of capacity b and refill rate
// r = (B − b) / hour, and a cell acquired from someone else starts EMPTY:
//
//   - In any rolling hour, the holder at its start has at most b tokens then and gains at most r per
//     unit of time held; each later holder starts at 0 and gains at most r per unit of time held.
//     A cell is held by one instance at a time, so all its holders together spend at most
//     b + r × 1h = B in any rolling hour, and the cells' budgets add up to at most L.
//   - POSTs in flight count against the bucket until their answer (content + in flight ≤ b): the
//     service stamps a POST somewhere between its send and its answer, and a POST answered after
//     a window opened counts in it. An acquired cell's bucket starts filling only once the cell
//     counts for the POSTs-per-minute window (a minute after the hand-over, share.go): its
//     previous holder's last POSTs are answered by then.
//   - A refused POST (429, 400) gives its rows back (the service did not store them); its POST
//     token stays spent.
//   - A group's first generation (nobody held anything before) starts full, so a fresh group
//     starts at once. A restarted process rebuilds the buckets of the cells it keeps (its
//     persisted holding, the very next generation: nobody else owned them in between) from its
//     spool's POSTs of the last hour (restore: a conservative replay, usable at once); cells it
//     did not keep, or all of them without a persisted holding or a readable post log, start
//     empty as taken-over cells do. A holding without a Kafka source (one instance per dataset)
//     has no buckets: it keeps the exact rolling windows and the greedy drain (scheduler.go).
//
// The per-instance rolling windows at floor(L × share) still apply on top.
//
// # Cost
//
// A holder that keeps its cells spends at most b + (B − b) in its first hour and B − b in every
// later hour: a scaled-out group uses a steady 1 − b/B of each hourly limit. b is the larger of
// two minutes' worth of the cell's budget (a 3.3% cost) and the unit a holder of one cell needs:
// one POST for POSTs per hour, and for rows per hour of a retention-None dataset the rows one
// POST must carry for the large tier's 120 POSTs to carry the hour's rows (1,000,000/120 = 8,334,
// at most a POST's rows) — at Power BI's limits and 12 partitions per source that is 1/10 of a
// cell's hour (a 10% cost), with 4 partitions 1/30. b is at most half of B (a cell whose hourly
// POST budget is below 2, i.e. more than 60 partitions per source at 120 POSTs per hour, spends
// half of it). A joiner's cells start empty: it posts at the refill rate at once and reaches
// the steady state without an idle hour.
//
// POSTs are sized to the tokens: a POST waits for half the instance's row capacity (the whole
// capacity in the large tier, where POSTs are scarce) or its backlog, whichever is less, and
// carries what the tokens allow. A draining backlog leaves the live reserve's part of the
// capacity (batch.live_reserve) in the buckets, so live rows take the refill first.

// hourSlack is a bucket's capacity as a part of its cell's hour when no larger unit is needed:
// two minutes.
const hourSlack = 2.0 / 60

// bucket is one cell's token bucket for one hourly limit.
type bucket struct {
	x        float64   // tokens at at (negative: drawn beyond what there was)
	at       time.Time // when x was last brought up to date
	from     time.Time // refill starts (an acquired cell: after its minute)
	inflight float64   // tokens of POSTs in flight drawn from this bucket
	// prior is the part of inflight that a previous process's POSTs may still hold (restore);
	// it is released at priorUntil.
	prior      float64
	priorUntil time.Time
}

// cellBudget is the hourly budget of one held cell. It moves with the cell while the instance
// keeps it across generations; a cell that changes hands gets a new one.
type cellBudget struct {
	size        float64 // the cell's part of share space
	rows, posts bucket
	init        bool // the buckets were filled (full) or emptied at first use
	full        bool // a first generation's cell: starts full
	from        time.Time
}

// bucketParams is a limit's bucket for a cell of size h: capacity and refill per second.
type bucketParams struct{ cap, rate float64 }

// advance brings b up to date at now.
func (b *bucket) advance(now time.Time, p bucketParams) {
	if b.prior != 0 && !now.Before(b.priorUntil) {
		b.fill(b.priorUntil, p)
		b.inflight -= b.prior
		b.prior = 0
	}
	b.fill(now, p)
}

// fill refills b up to now, under its capacity less what is in flight.
func (b *bucket) fill(now time.Time, p bucketParams) {
	if now.After(b.at) {
		start := b.at
		if b.from.After(start) {
			start = b.from
		}
		if now.After(start) {
			b.x += p.rate * now.Sub(start).Seconds()
		}
		b.at = now
	}
	b.x = min(b.x, p.cap-b.inflight)
}

// reach returns, from now, when b starts filling and when it is full, assuming nothing is drawn
// or answered meanwhile.
func (b *bucket) reach(now time.Time, p bucketParams) (start, full time.Duration) {
	start = max(0, b.from.Sub(now))
	if p.rate <= 0 {
		return start, Forever
	}
	return start, start + time.Duration((p.cap-b.inflight-b.x)/p.rate*float64(time.Second))
}

// budgets returns the budgets of the cells held now (nil for a holding without Kafka sources,
// and while a source's generation is revoked).
func (h *holding) budgets() []*cellBudget {
	if h.full || h.sources == nil {
		return nil
	}
	var out []*cellBudget
	for _, sh := range h.sources {
		if sh.revoked {
			continue
		}
		for _, p := range slices.Sorted(mapKeys(sh.budgets)) {
			out = append(out, sh.budgets[p])
		}
	}
	return out
}

func mapKeys(m map[int]*cellBudget) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// metered reports whether the hourly limits go through the cells' buckets (Kafka holding).
func (h *holding) metered() bool { return !h.full && h.sources != nil }

// rowsParams returns the rows-per-hour bucket of a cell of size c.
func (s *Scheduler) rowsParams(c float64) bucketParams {
	unit := 0.0
	if s.none { // the large tier needs POSTs that carry the hour's rows in its POST budget
		unit = math.Min(float64(s.limits.RowsPerPost), math.Ceil(float64(s.limits.RowsPerHour)/float64(s.limits.PostsPerHourLarge)))
	}
	return cellBucket(float64(s.limits.RowsPerHour)*c, unit)
}

// postsParams returns the POSTs-per-hour (large tier) bucket of a cell of size c.
func (s *Scheduler) postsParams(c float64) bucketParams {
	return cellBucket(float64(s.limits.PostsPerHourLarge)*c, 1)
}

// cellBucket returns the bucket of a cell whose hourly budget is B, with at least unit tokens of
// capacity (see the comment at the top of the file).
func cellBucket(B, unit float64) bucketParams {
	b := min(max(B*hourSlack, unit), B/2)
	return bucketParams{cap: b, rate: (B - b) / 3600}
}

// touch brings every held cell's buckets up to date at now (first use: full or empty).
func (s *Scheduler) touch(now time.Time) []*cellBudget {
	cs := s.hold.budgets()
	for _, c := range cs {
		rp, pp := s.rowsParams(c.size), s.postsParams(c.size)
		if !c.init {
			c.init = true
			c.rows.at, c.posts.at = now, now
			c.rows.from, c.posts.from = c.from, c.from
			if c.full {
				c.rows.x, c.posts.x = rp.cap, pp.cap
			}
		}
		c.rows.advance(now, rp)
		c.posts.advance(now, pp)
	}
	return cs
}

// tokens returns the rows and POSTs the held cells' buckets hold at now, and the instance's row
// capacity.
func (s *Scheduler) tokens(now time.Time) (rows, posts, rowCap float64) {
	for _, c := range s.touch(now) {
		rows += max(0, c.rows.x)
		posts += max(0, c.posts.x)
		rowCap += s.rowsParams(c.size).cap
	}
	return rows, posts, rowCap
}

// fit returns the rows t's next POST should carry at now: size(t) without buckets; otherwise
// what the tokens allow (less what a draining table leaves to live rows, keep), but at least the
// size it waits for (tokenWait).
func (s *Scheduler) fit(now time.Time, t *tableState) int {
	n := s.size(t)
	if !s.hold.metered() || n < 1 {
		return n
	}
	rows, _, rowCap := s.tokens(now)
	unit := rowCap / 2
	if s.large {
		unit = rowCap
	}
	keep := s.keep(t)
	want := min(n, max(1, int(math.Floor(unit+1e-9))-keep)) // want + keep ≤ the capacity
	return min(n, max(want, int(math.Floor(rows+1e-9))-keep))
}

// keep returns the tokens a POST of t leaves in the buckets: a draining table leaves the live
// reserve's part of the instance's row capacity to live rows, which so take the refill first.
func (s *Scheduler) keep(t *tableState) int {
	if s.reserve <= 0 || !s.hold.metered() || !s.draining(t) {
		return 0
	}
	cap := 0.0
	for _, c := range s.hold.budgets() {
		cap += s.rowsParams(c.size).cap
	}
	return int(math.Floor(cap * s.reserve))
}

// tokenWait returns how long until the held cells' buckets hold n rows (and, in the large tier,
// one POST): 0 without buckets, Forever if only an answer (freeing tokens in flight) can help.
func (s *Scheduler) tokenWait(now time.Time, n int) time.Duration {
	if !s.hold.metered() {
		return 0
	}
	cs := s.touch(now)
	if len(cs) == 0 {
		return Forever
	}
	w := sumWait(now, cs, float64(n), func(c *cellBudget) (*bucket, bucketParams) { return &c.rows, s.rowsParams(c.size) })
	if s.large {
		w = max(w, sumWait(now, cs, 1, func(c *cellBudget) (*bucket, bucketParams) { return &c.posts, s.postsParams(c.size) }))
	}
	return w
}

// sumWait returns how long until the buckets of cs together hold need tokens (each bucket's
// level rises linearly from its start to its cap, so the sum is piecewise linear).
func sumWait(now time.Time, cs []*cellBudget, need float64, get func(*cellBudget) (*bucket, bucketParams)) time.Duration {
	level := func(w time.Duration) float64 {
		sum := 0.0
		for _, c := range cs {
			b, p := get(c)
			start, full := b.reach(now, p)
			switch {
			case w >= full:
				sum += max(0, p.cap-b.inflight)
			case w > start:
				sum += max(0, b.x+p.rate*(w-start).Seconds())
			default:
				sum += max(0, b.x)
			}
		}
		return sum
	}
	if level(0) >= need-1e-9 {
		return 0
	}
	marks := []time.Duration{0}
	for _, c := range cs {
		b, p := get(c)
		start, full := b.reach(now, p)
		marks = append(marks, start, full)
	}
	slices.Sort(marks)
	prev := time.Duration(0)
	for _, m := range marks {
		if m == Forever {
			break
		}
		if l := level(m); l >= need-1e-9 {
			// Linear between prev and m.
			lo := level(prev)
			if l <= lo {
				return m
			}
			f := (need - lo) / (l - lo)
			return prev + time.Duration(math.Ceil(f*float64(m-prev)))
		}
		prev = m
	}
	return Forever
}

// draw is what one POST took from one cell's buckets.
type draw struct {
	c           *cellBudget
	rows, posts float64
}

// take draws rows (and a POST in the large tier) from the held cells' buckets at now, fullest
// first; what the buckets lack is drawn from the first (a debt its refill pays back).
func (s *Scheduler) take(now time.Time, rows int) []draw {
	if !s.hold.metered() {
		return nil
	}
	cs := s.touch(now)
	if len(cs) == 0 {
		return nil
	}
	ds := make([]draw, len(cs))
	for i, c := range cs {
		ds[i].c = c
	}
	spread := func(need float64, get func(*cellBudget) *bucket, put func(*draw, float64)) {
		order := slices.Clone(ds)
		slices.SortStableFunc(order, func(a, b draw) int {
			switch xa, xb := get(a.c).x, get(b.c).x; {
			case xa > xb:
				return -1
			case xa < xb:
				return 1
			}
			return 0
		})
		for _, d := range order {
			if need <= 0 {
				break
			}
			b := get(d.c)
			k := min(need, max(0, b.x))
			if k <= 0 {
				continue
			}
			b.x -= k
			b.inflight += k
			need -= k
			put(&ds[slices.IndexFunc(ds, func(x draw) bool { return x.c == d.c })], k)
		}
		if need > 0 {
			b := get(ds[0].c)
			b.x -= need
			b.inflight += need
			put(&ds[0], need)
		}
	}
	spread(float64(rows), func(c *cellBudget) *bucket { return &c.rows }, func(d *draw, k float64) { d.rows += k })
	if s.large {
		spread(1, func(c *cellBudget) *bucket { return &c.posts }, func(d *draw, k float64) { d.posts += k })
	}
	return slices.DeleteFunc(ds, func(d draw) bool { return d.rows == 0 && d.posts == 0 })
}

// answered records the answer to a POST that drew ds: its tokens are no longer in flight, and a
// refused POST's rows go back to their buckets.
func (s *Scheduler) answered(now time.Time, ds []draw, refused bool) {
	for _, d := range ds {
		rp, pp := s.rowsParams(d.c.size), s.postsParams(d.c.size)
		d.c.rows.advance(now, rp)
		d.c.posts.advance(now, pp)
		d.c.rows.inflight -= d.rows
		d.c.posts.inflight -= d.posts
		if refused {
			d.c.rows.x += d.rows
		}
		d.c.rows.advance(now, rp)
		d.c.posts.advance(now, pp)
	}
}

// restore rebuilds at now the buckets of the cells r a restarted process keeps (its previous
// process held them in the previous generation: nobody else owned them in between) from this
// spool's post log, instead of starting them empty.
//
// The replay treats the kept cells K together as one bucket M (capacity Σb, refill Σr): it
// starts at S = max(now − 1h, F), F the latest time a cell of K started filling (its
// acquisition + 1 minute; a first generation's cells started full and set no bound), EMPTY if
// S = F, FULL if S = now − 1h (both sound, below); every logged POST since
// S draws its rows (and one POST token, whatever the tier) at its send time, all attributed to
// K (the previous process may have held other cells too), and stays in flight (content + in
// flight ≤ Σb) for a minute, the time the hand-overs allow for an answer; POSTs sent in the
// minute before S are in flight at S. No refund is replayed (an answer is not logged). The
// content at now is split among the cells of K in proportion to their capacity, usable at once;
// what is still in flight stays in flight in the cells' buckets (prior) until the last of those
// POSTs is a minute old, refill running meanwhile.
//
// Why that never exceeds the hourly limit in a rolling hour [u, u+1h] (the cells outside K keep
// their own buckets; C is the content, I what is in flight):
//
//   - Every POST this spool sent on K since S − 1 minute is in M's log (RecordPost precedes the
//     send) and M draws at least those, and M's in flight holds at least the POSTs of K in
//     flight: sends on K in [u, v] ≤ C_M(u) + Σr(v − u) − C(v) and stamps ≤ I_M(u) + that, with
//     C_M + I_M ≤ Σb. After now the cells' separate buckets, starting with M's content and in
//     flight, hold together at most what M would (separate buckets lose refill when one is full,
//     never gain), and draw only tokens they hold (a window in which the restarted process
//     sends nothing is the previous process's alone). So for u ≥ S a window holds at most
//     Σb + Σr × 1h = ΣB whatever M's content at S (content + in flight ≤ Σb is all it takes):
//     a full start is sound, and an empty one is never above it (a bucket's content is monotone
//     in its start).
//   - u < S = now − 1h: the window ends before now, the previous process's own buckets held.
//   - u < S = F, a cell's fill start: before F the holders of K (previous owners, then this
//     spool waiting its minute) kept the per-cell bounds, at most Σb + Σr(F − u) − I(F) − C(F)
//     stamped in [u, F), C(F) ≥ 0 (the cell acquired at F − 1 minute holds 0 then, the others
//     no debt); from F, at most I(F) + C_M(F) + Σr(v − F) with C_M(F) ≤ 0 ≤ C(F): M starts
//     EMPTY here. Together ΣB.
//
// Assumed, as for hand-overs: a POST is answered (stamped) within a minute of its send, and
// RecordPost succeeded (a failure is logged: only a restart within the hour forgets the POST).
func (s *Scheduler) restore(now time.Time, r *restart) {
	start := later(now.Add(-hour), r.since)
	end := later(now, start) // a cell still in its minute: nothing refills before it starts
	replay := func(params func(c float64) bucketParams, cost func(spool.PostRecord) float64, get func(*cellBudget) *bucket) {
		var m bucketParams
		for _, c := range r.cells {
			p := params(c.size)
			m.cap += p.cap
			m.rate += p.rate
		}
		type event struct {
			at   time.Time
			draw bool
			n    float64
		}
		var evs []event
		for _, p := range r.posts {
			if p.Rows < 0 || p.At.Before(start.Add(-minute)) || p.At.After(now) {
				continue
			}
			n := cost(p)
			evs = append(evs, event{at: later(p.At, start), draw: !p.At.Before(start), n: n}, event{at: p.At.Add(minute), n: -n})
			if !evs[len(evs)-1].at.After(start) {
				evs = evs[:len(evs)-2] // answered before S
			}
		}
		slices.SortStableFunc(evs, func(a, b event) int { return a.at.Compare(b.at) })
		b := bucket{at: start, from: start}
		if !r.since.After(now.Add(-hour)) {
			b.x = m.cap // S = now − 1h: any start is sound (see above); the in-flight clip applies
		}
		var until time.Time
		for _, e := range evs {
			if e.at.After(end) {
				until = later(until, e.at) // still in flight at the end
				continue
			}
			b.advance(e.at, m)
			if e.n > 0 && e.draw {
				b.x -= e.n
			}
			b.inflight += e.n
			b.advance(e.at, m)
		}
		b.advance(end, m)
		if until.IsZero() {
			b.inflight = 0 // every logged POST answered (what is left is rounding)
		}
		for _, c := range r.cells {
			w := params(c.size).cap / m.cap
			*get(c) = bucket{x: b.x * w, at: now, from: end, inflight: b.inflight * w}
			if b.inflight > 0 {
				get(c).prior, get(c).priorUntil = b.inflight*w, until
			}
		}
	}
	replay(s.rowsParams, func(p spool.PostRecord) float64 { return float64(p.Rows) }, func(c *cellBudget) *bucket { return &c.rows })
	replay(s.postsParams, func(spool.PostRecord) float64 { return 1 }, func(c *cellBudget) *bucket { return &c.posts })
	for _, c := range r.cells {
		c.init, c.full, c.from = true, false, end
	}
}

package batcher

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// This file is the one model of the future that the dry-run plan, the backfill progress line and
// /status use for time-to-drain. It replays the scheduler's greedy rules POST by POST on a
// virtual timeline: a POST goes out as soon as a pending slot is free and every rolling window
// admits it (rows per POST, POSTs per minute, the large tier's POSTs per hour once a
// retention-None table holds large_table_rows counting the rows already in it, rows per hour,
// the live reserve), tables share the dataset fairly (fewest rows served first), windows count
// a POST until an hour (a minute) after its answer, and once Power BI has throttled (multiplier
// below 1) the lowered rates are spread evenly, as the scheduler's pacers do.

// Names of the limits a forecast reports as binding.
const (
	BindLatency = "POST round trips"
	BindLinger  = "batch linger"
	BindPaused  = "Retry-After pause (429)"
)

// ForecastTable is one table of the dataset.
type ForecastTable struct {
	Name    string
	Backlog int64 // rows still to deliver: spooled and still to be read
	Held    int64 // rows the service's table holds already (and rows in flight)
}

// RecentPost is a POST already in the rolling windows: how long ago it was sent and answered.
type RecentPost struct {
	SentAgo, DoneAgo time.Duration // DoneAgo < 0: still in flight
	Rows             int
}

// ForecastInput is the state a forecast starts from.
type ForecastInput struct {
	Limits    config.Limits // zero fields: Power BI defaults
	Retention string
	Tables    []ForecastTable // every table of the dataset with rows to send
	Target    string          // the table whose drain time is asked ("" = all of them)
	// Latency is a POST's round trip (0 = DefaultForecastLatency); Linger how long a partial
	// POST waits for more rows (0 = 1s).
	Latency, Linger time.Duration
	// Reserve is the live reserve backlog POSTs leave (batch.live_reserve in run, 0 in backfill).
	Reserve float64
	// Multiplier is the observed rate multiplier after 429s (the scheduler's AIMD; below 1 the
	// rates are also spread evenly); Share the instance's share of the limits. 0 = 1 for both.
	// Paused is what is left of a Retry-After pause.
	Multiplier, Share float64
	Paused            time.Duration
	Recent            []RecentPost // the POSTs of the last hour (Dispatcher.ForecastInput fills them)
}

// maxForecastSteps bounds the POSTs a forecast replays one by one (100 hours at 120 POSTs a
// minute would be 720,000); past it the rest is extrapolated at the rate reached.
const maxForecastSteps = 50_000

// DefaultForecastLatency is the POST round trip a forecast assumes before any was measured.
const DefaultForecastLatency = 250 * time.Millisecond

// Forecast is when the backlog will have drained, and why it takes that long.
type Forecast struct {
	Duration time.Duration // until the target's last row is acknowledged
	Posts    int64         // POSTs of the target (all tables when Target is "")
	// LargeTierAfter is how many rows of the target go out before the large tier starts (-1:
	// never; 0: already in it).
	LargeTierAfter int64
	// Binding names the limit that accounts for most of the waiting ("" when nothing waits),
	// BindingNow the one the next POST waits for.
	Binding, BindingNow string
	RowsPerHour         float64 // average delivery rate of the target over the drain
}

// fcEntry is one POST in the model's windows.
type fcEntry struct {
	sent, done time.Duration
	rows       int
}

// fcState is the model's timeline.
type fcState struct {
	in       ForecastInput
	lim      config.Limits
	eff      effective
	drain    effective
	large    bool
	log      []fcEntry       // POSTs that may still count, in answer order
	logRows  int             // the rows of log
	slots    []time.Duration // when each in-flight POST's slot frees
	served   map[string]int64
	pacerRow time.Duration // GCRA theoretical arrival times of the pacers (paced only)
	pacerPst time.Duration
	waited   map[string]time.Duration
}

// ForecastDrain runs the model. It is cheap: one step per POST (3M rows at the defaults is 300).
func ForecastDrain(in ForecastInput) Forecast {
	m, share := in.Multiplier, in.Share
	if m <= 0 || m > 1 {
		m, in.Multiplier = 1, 1
	}
	if share <= 0 || share > 1 {
		share = 1
	}
	if in.Latency <= 0 {
		in.Latency = DefaultForecastLatency
	}
	if in.Linger <= 0 {
		in.Linger = time.Second
	}
	st := &fcState{in: in, lim: WithDefaults(in.Limits), served: map[string]int64{}, waited: map[string]time.Duration{}}
	st.eff = scaleLimits(st.lim, m*share)
	st.drain = st.eff.less(min(max(in.Reserve, 0), 0.9))
	for _, r := range in.Recent {
		e := fcEntry{sent: -r.SentAgo, done: -r.DoneAgo, rows: r.Rows}
		if r.DoneAgo < 0 {
			e.done = e.sent + in.Latency // in flight: assume it answers after a round trip
			st.slots = append(st.slots, max(0, e.done))
		}
		st.log = append(st.log, e)
		st.logRows += e.rows
	}
	sort.SliceStable(st.log, func(i, j int) bool { return st.log[i].done < st.log[j].done })
	tables := make([]ForecastTable, 0, len(in.Tables))
	for _, t := range in.Tables {
		if t.Backlog > 0 {
			tables = append(tables, t)
		}
		st.checkTier(t.Held)
	}
	f := Forecast{LargeTierAfter: -1}
	if st.large {
		f.LargeTierAfter = 0
	}
	var now, end time.Duration
	var targetRows, sentTarget int64
	for _, t := range tables {
		if in.Target == "" || t.Name == in.Target {
			targetRows += t.Backlog
		}
	}
	first := true
	var steps int
	var doneRows int64 // rows of the target sent so far
	for {
		i := st.pick(tables)
		if i < 0 || (in.Target != "" && !st.pending(tables, in.Target)) {
			break
		}
		if steps++; steps > maxForecastSteps && doneRows > 0 {
			// A very long drain (tiny POSTs): the rest at the rate reached so far.
			left := targetRows - doneRows
			f.Posts += (left + int64(st.eff.rowsPerPost) - 1) / int64(st.eff.rowsPerPost)
			end += time.Duration(float64(end) * float64(left) / float64(doneRows))
			break
		}
		t := &tables[i]
		n, draining := st.size(t)
		at, why := st.admit(now, n, draining, t.Backlog < int64(st.eff.rowsPerPost))
		if first {
			f.BindingNow, first = why, false
		}
		if at > now && why != "" {
			st.waited[why] += at - now
		}
		now = at
		st.send(now, n)
		t.Backlog -= int64(n)
		t.Held += int64(n)
		st.served[t.Name] += int64(n)
		if in.Target == "" || t.Name == in.Target {
			f.Posts++
			doneRows += int64(n)
			if !st.large && f.LargeTierAfter < 0 {
				sentTarget += int64(n)
			}
			end = max(end, now+in.Latency)
		}
		if !st.large && st.checkTier(t.Held) && f.LargeTierAfter < 0 {
			f.LargeTierAfter = sentTarget
		}
	}
	f.Duration = end
	var most time.Duration
	for name, w := range st.waited {
		if w > most || (w == most && name < f.Binding) {
			f.Binding, most = name, w
		}
	}
	if f.Binding == "" && f.Posts > 0 {
		f.Binding = BindLatency
	}
	if end > 0 {
		f.RowsPerHour = float64(targetRows) / end.Hours()
	}
	return f
}

// checkTier switches to the large tier once a retention-None table holds large_table_rows.
func (st *fcState) checkTier(held int64) bool {
	if !strings.EqualFold(st.in.Retention, "basicFIFO") && held >= int64(st.lim.LargeTableRows) {
		st.large = true
	}
	return st.large
}

// pick is the table with rows that has been served the fewest rows (the scheduler's fairness).
func (st *fcState) pick(tables []ForecastTable) int {
	best := -1
	for i := range tables {
		if tables[i].Backlog > 0 && (best < 0 || st.served[tables[i].Name] < st.served[tables[best].Name]) {
			best = i
		}
	}
	return best
}

func (st *fcState) pending(tables []ForecastTable, name string) bool {
	for _, t := range tables {
		if t.Name == name && t.Backlog > 0 {
			return true
		}
	}
	return false
}

// size is the next POST's rows and whether the table drains (its backlog fills a POST).
func (st *fcState) size(t *ForecastTable) (int, bool) {
	n := int(min(t.Backlog, int64(st.eff.rowsPerPost)))
	if t.Backlog >= int64(st.eff.rowsPerPost) {
		return min(n, st.drain.rowsPerPost), true
	}
	return n, false
}

// admit returns the earliest time from now at which a POST of n rows fits every limit, and the
// name of the limit that held it back longest ("" if none did).
func (st *fcState) admit(now time.Duration, n int, draining, partial bool) (time.Duration, string) {
	l := st.eff
	if draining {
		l = st.drain
	}
	at, why := now, ""
	bump := func(t time.Duration, name string) {
		if t > at {
			at, why = t, name
		}
	}
	bump(st.in.Paused, BindPaused)
	if partial {
		bump(st.in.Linger, BindLinger) // the last, partial POST waits for more rows
	}
	for changed := true; changed; {
		before := at
		bump(st.slotFree(l.pending), fmt.Sprintf("%d pending POSTs", l.pending))
		bump(st.rowsFit(at, n, l.rowsPerHour), groupInt(l.rowsPerHour)+" rows/hour")
		if st.large {
			bump(st.countFit(at, time.Hour, l.postsPerHourLarge),
				fmt.Sprintf("table ≥ %s rows: %d POSTs/hour", groupInt(st.lim.LargeTableRows), l.postsPerHourLarge))
		} else {
			bump(st.countFit(at, time.Minute, l.postsPerMinute), fmt.Sprintf("%d POSTs/minute", l.postsPerMinute))
		}
		if st.in.Multiplier < 1 {
			bump(st.paced(at, n, l), fmt.Sprintf("%s rows/hour spread evenly", groupInt(l.rowsPerHour)))
		}
		changed = at != before
	}
	if st.in.Multiplier < 1 && why != "" && why != BindPaused && why != BindLinger {
		why += fmt.Sprintf(" (after 429s: rates × %.2f)", st.in.Multiplier)
	}
	return at, why
}

// slotFree is when one of pending slots is free.
func (st *fcState) slotFree(pending int) time.Duration {
	if len(st.slots) < pending {
		return 0
	}
	// the (len-pending+1)-th earliest slot
	s := append([]time.Duration(nil), st.slots...)
	sortDurations(s)
	return s[len(s)-pending]
}

// rowsFit is the earliest time from at when n more rows fit the rolling hour. The log is in
// answer order; logRows is the sum of its rows.
func (st *fcState) rowsFit(at time.Duration, n, perHour int) time.Duration {
	total, i := st.logRows, 0
	for ; i < len(st.log) && st.log[i].done+time.Hour <= at; i++ {
		total -= st.log[i].rows
	}
	for ; total+n > perHour && i < len(st.log); i++ {
		total -= st.log[i].rows
		at = max(at, st.log[i].done+time.Hour)
	}
	return at
}

// countFit is the earliest time from at when one more POST fits max POSTs per span.
func (st *fcState) countFit(at, span time.Duration, maxPosts int) time.Duration {
	first := sort.Search(len(st.log), func(i int) bool { return st.log[i].done+span > at })
	if len(st.log)-first < maxPosts {
		return at
	}
	return max(at, st.log[len(st.log)-maxPosts].done+span)
}

// paced is when the throttled pacers admit the POST (rates spread evenly, one POST of burst).
func (st *fcState) paced(at time.Duration, n int, l effective) time.Duration {
	rowEvery := time.Duration(float64(time.Hour) / float64(l.rowsPerHour))
	burstRows := time.Duration(l.rowsPerPost) * rowEvery
	return max(at, st.pacerRow+time.Duration(n)*rowEvery-burstRows, st.pacerPst)
}

// send records a POST at now.
func (st *fcState) send(now time.Duration, n int) {
	done := now + st.in.Latency
	st.log = append(st.log, fcEntry{sent: now, done: done, rows: n})
	st.logRows += n
	cut := 0
	for cut < len(st.log) && st.log[cut].done+time.Hour <= now {
		st.logRows -= st.log[cut].rows
		cut++
	}
	st.log = st.log[cut:]
	keep := st.slots[:0]
	for _, s := range st.slots {
		if s > now {
			keep = append(keep, s)
		}
	}
	st.slots = append(keep, done)
	if st.in.Multiplier < 1 {
		rowEvery := time.Duration(float64(time.Hour) / float64(st.eff.rowsPerHour))
		st.pacerRow = max(st.pacerRow, now) + time.Duration(n)*rowEvery
		postEvery := time.Duration(float64(time.Minute) / float64(st.eff.postsPerMinute))
		if st.large {
			postEvery = time.Duration(float64(time.Hour) / float64(st.eff.postsPerHourLarge))
		}
		st.pacerPst = max(st.pacerPst, now) + postEvery
	}
}

func sortDurations(s []time.Duration) { slices.Sort(s) }

// groupInt formats n with thousands separators.
func groupInt(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// ForecastInput returns the scheduler's state at now as a forecast's start: every table's
// spooled backlog and the rows its table may hold, the POSTs in the rolling windows, the measured
// round trip, the 429 multiplier, the share and any pause. Callers add rows still to be read.
func (s *Scheduler) ForecastInput(now time.Time) ForecastInput {
	s.win.prune(now)
	in := ForecastInput{Limits: s.limits, Linger: s.linger, Reserve: s.reserve, Multiplier: s.aimd.m, Share: s.hold.size()}
	if s.none {
		in.Retention = "None"
	} else {
		in.Retention = "basicFIFO"
	}
	if now.Before(s.pausedUntil) {
		in.Paused = s.pausedUntil.Sub(now)
	}
	for _, t := range s.tables {
		in.Tables = append(in.Tables, ForecastTable{Name: t.name, Backlog: int64(t.backlog),
			Held: s.tableRows(t)})
	}
	var rtt time.Duration
	answered := 0
	for _, e := range s.win.entries {
		r := RecentPost{SentAgo: now.Sub(e.at), DoneAgo: -1, Rows: e.rows}
		if !e.done.IsZero() {
			r.DoneAgo = now.Sub(e.done)
			rtt += e.done.Sub(e.at)
			answered++
		}
		in.Recent = append(in.Recent, r)
	}
	if answered > 0 {
		in.Latency = max(time.Millisecond, rtt/time.Duration(answered))
	}
	return in
}

// ForecastInput is the dispatcher's Scheduler.ForecastInput now.
func (d *Dispatcher) ForecastInput() ForecastInput {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sched.ForecastInput(d.clock.Now())
}

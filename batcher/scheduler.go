package batcher

import (
	"math"
	"strings"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// Forever is Decision.Wait when only an event (new rows, a POST result) can change the decision.
const Forever time.Duration = math.MaxInt64

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	Limits    config.Limits // zero fields: Power BI defaults
	Retention string        // "basicFIFO" or None (anything else)
	Tables    []string
	Linger    time.Duration // how long a partial POST waits for more rows; 0 = 1s
	// Jitter maps a backoff step d to the wait used; nil = uniform in [d/2, d].
	Jitter func(d time.Duration) time.Duration
	// LiveReserve is the share of each rate limit (rows per hour, POSTs per window) that backlog
	// POSTs leave to live rows, in [0, 1); with a reserve, backlog POSTs also leave one pending
	// slot free. 0 (backfill) lets a backlog use every limit in full. See config.DefaultLiveReserve.
	LiveReserve float64
	// Serial keeps one POST per table in flight (row order kept across POSTs, e.g. when the
	// service sees sequence numbers); otherwise a table's backlog uses every pending slot.
	Serial bool
	// ShareSources is how many Kafka sources feed the dataset: 0 = this instance holds the whole
	// budget; otherwise it holds nothing until the sources report assignments (SetAssignment).
	ShareSources int
	// SlotPeriod and SlotGuard time the pending slots (share.go); 0 = the defaults.
	SlotPeriod, SlotGuard time.Duration
	// AwaitServiceRows, when > 0, holds the first POST of a retention-None dataset until every
	// table's service count arrived (SetServiceRows, known or not) or this long passed, so the
	// large tier is decided before anything is sent (read-back).
	AwaitServiceRows time.Duration
}

// Decision is what the scheduler wants now: post Rows rows of Table, or wait.
type Decision struct {
	Table string
	Rows  int           // > 0: take up to Rows rows of Table and post them now
	Wait  time.Duration // Rows == 0: call Next again after Wait (or on an event)
}

// Ticket identifies a POST between Sent and Result.
type Ticket struct {
	Table  string
	Rows   int
	id     uint64
	sentAt time.Time
	bisect bool
	slot   int // pending slot + 1 (share.go); 0 = none
	draws  []draw
}

// Scheduler decides, for one dataset, which table posts how many rows when. It is a pure
// function of the times passed in: no goroutines, no clock, not safe for concurrent use.
//
// Limits (per dataset, all at once): rows per POST; rows per rolling hour and POSTs per rolling
// minute (or per rolling hour in the large tier), checked against an exact log of the POSTs of
// the last hour, so no window ever holds more than the limit; pending POSTs. Drain is greedy: a
// POST goes out as soon as every window admits it, so a backlog leaves as fast as the limits
// permit (300,000 rows = 30 POSTs, 5 at a time; a 5M-row backlog takes 1M rows per rolling hour,
// each hour's share at once). Batch size: n = min(rows per POST, backlog): with a backlog every
// POST is full (1M rows/h in 100 POSTs, which also fits the 120 POSTs/h large tier); with a
// trickle, rows go out once the oldest has waited Linger. A table whose backlog fills a POST is
// draining and may use only 1-LiveReserve of each limit (and all pending slots but one), so
// partial (live) POSTs always find budget. Only once the service throttles (AIMD multiplier < 1)
// do two x/time/rate pacers spread the lowered rate evenly.
// Tables are served fairly: the ready table that has posted the fewest rows goes first.
type Scheduler struct {
	limits config.Limits
	none   bool // retention None: the large tier applies past LargeTableRows
	linger time.Duration
	hold   *holding     // this instance's part of the dataset's budget (share.go)
	slots  map[int]bool // pending slots occupied by this instance's POSTs
	// reserve is LiveReserve; serial is SchedulerConfig.Serial.
	reserve float64
	serial  bool
	aimd    aimd
	back    backoff
	eff     effective
	drain   effective // eff less the live reserve: what backlog POSTs may use
	large   bool
	largeAt time.Time // when the large tier began

	tables []*tableState
	byName map[string]*tableState
	last   int // index of the last table served: round-robin tie break

	win         window
	rowPacer    *pacer
	postPacer   *pacer
	inflight    int
	pausedUntil time.Time
	stats       Stats
	awaitUntil  time.Time // AwaitServiceRows: no POST before this unless every count arrived
}

// tableState is the scheduler's view of one table queue.
type tableState struct {
	name      string
	backlog   int
	oldest    time.Time
	served    int64 // rows posted, for fairness
	delivered int64 // rows this instance delivered (spool count), for the large tier
	svcRows   int64 // rows the service reported (read-back), valid when svcKnown
	svcKnown  bool
	svcAt     int64 // delivered when svcRows was read
	svcAwait  bool  // the first service count has not arrived yet (AwaitServiceRows)
	// requeued (from the spool: in flight at an unclean stop) and unknown (POSTs of this process
	// whose outcome was an error the rows may have been stored before) are rows the service may
	// hold on top of delivered: the large tier counts them.
	requeued, unknown int64
	inflightRows      int
	posts             int   // POSTs in flight
	bisecting         int   // bisect POSTs in flight: while > 0 or bisect is set, one POST at a time
	bisect            []int // sizes of the next POSTs (stack; top = next) while bisecting a rejection
}

// NewScheduler returns a scheduler at now.
func NewScheduler(now time.Time, c SchedulerConfig) *Scheduler {
	s := &Scheduler{
		limits:  WithDefaults(c.Limits),
		none:    !strings.EqualFold(c.Retention, "basicFIFO"),
		linger:  c.Linger,
		hold:    newHolding(c.ShareSources, c.SlotPeriod, c.SlotGuard),
		slots:   map[int]bool{},
		reserve: min(max(c.LiveReserve, 0), 0.9),
		serial:  c.Serial,
		aimd:    newAIMD(),
		back:    backoff{jitter: c.Jitter},
		byName:  map[string]*tableState{},
		last:    -1,
	}
	if s.linger <= 0 {
		s.linger = time.Second
	}
	if s.back.jitter == nil {
		s.back.jitter = fullJitter
	}
	if c.AwaitServiceRows > 0 && s.none {
		s.awaitUntil = now.Add(c.AwaitServiceRows)
	}
	for _, name := range c.Tables {
		t := &tableState{name: name, svcAwait: !s.awaitUntil.IsZero()}
		s.tables = append(s.tables, t)
		s.byName[name] = t
	}
	s.apply(now)
	return s
}

// apply recomputes the effective limits and the pacers after a change of limits, share,
// multiplier or tier.
func (s *Scheduler) apply(now time.Time) {
	s.eff = s.effAt(now)
	s.drain = s.eff.less(s.reserve)
	if !s.paced() {
		s.rowPacer, s.postPacer = nil, nil
		return
	}
	// Throttled: follow the lowered rate evenly, one POST of burst. The pacers start full when
	// pacing starts (the windows already hold what was sent).
	rowRate := float64(s.eff.rowsPerHour) / 3600
	postRate := float64(s.eff.postsPerMinute) / 60
	if s.large {
		postRate = float64(s.eff.postsPerHourLarge) / 3600
	}
	if s.rowPacer == nil {
		s.rowPacer, s.postPacer = newPacer(rowRate, s.eff.rowsPerPost), newPacer(postRate, 1)
		return
	}
	s.rowPacer.set(now, rowRate, s.eff.rowsPerPost)
	s.postPacer.set(now, postRate, 1)
}

// paced reports whether the service pushed back (AIMD multiplier below 1): the pacers apply.
func (s *Scheduler) paced() bool { return s.aimd.m < 1 }

// SetLimits replaces the configured limits; the POSTs already logged keep counting.
func (s *Scheduler) SetLimits(now time.Time, l config.Limits) {
	s.limits = WithDefaults(l)
	s.updateTier(now)
	s.apply(now)
}

// SetShare makes this instance hold a settled fraction share of every limit, clamped to
// [0,1] (an instance that splits by hand; Kafka sources use SetAssignment).
func (s *Scheduler) SetShare(now time.Time, share float64) {
	if math.IsNaN(share) {
		return
	}
	s.hold.setFixed(share)
	s.updateTier(now)
	s.apply(now)
}

// SetAssignment records the partitions a Kafka source's group assigned to this instance.
func (s *Scheduler) SetAssignment(now time.Time, src ShareSource, a Assignment) {
	s.assign(now, src, a, nil)
}

// assign records src's assignment; prev is what this spool's previous process held (nil if not
// known). It returns how many cells kept from prev had their buckets restored.
func (s *Scheduler) assign(now time.Time, src ShareSource, a Assignment, prev *sourceHold) int {
	r := s.hold.assign(now, src, a, prev)
	if r != nil {
		s.restore(now, r)
	}
	s.updateTier(now)
	s.apply(now)
	if r == nil {
		return 0
	}
	return len(r.cells)
}

// Revoke records that a Kafka source's generation ended: its partitions are not held until the
// next assignment.
func (s *Scheduler) Revoke(now time.Time, src ShareSource) {
	s.hold.revoke(src)
	s.updateTier(now)
	s.apply(now)
}

// SetServiceRows records the rows the service holds in table (read-back), or forgets them
// (known false: the service cannot be asked; the local estimate decides).
func (s *Scheduler) SetServiceRows(now time.Time, table string, rows int64, known bool) {
	if t := s.byName[table]; t != nil {
		t.svcRows, t.svcKnown, t.svcAt, t.svcAwait = rows, known, t.delivered, false
		s.updateTier(now)
	}
}

// awaitWait returns how long the first POST still waits for the service's counts (0 = none).
func (s *Scheduler) awaitWait(now time.Time) time.Duration {
	if s.awaitUntil.IsZero() || !now.Before(s.awaitUntil) {
		return 0
	}
	for _, t := range s.tables {
		if t.svcAwait {
			return s.awaitUntil.Sub(now)
		}
	}
	s.awaitUntil = time.Time{}
	return 0
}

// tick recomputes the effective limits when the shares' ramps moved them.
func (s *Scheduler) tick(now time.Time) {
	if s.effAt(now) != s.eff {
		s.apply(now)
	}
}

// SetBacklog records a table's ready rows and the append time of the oldest.
func (s *Scheduler) SetBacklog(table string, rows int, oldest time.Time) {
	t := s.byName[table]
	if t == nil {
		return
	}
	if t.backlog == 0 && t.posts == 0 && rows > 0 {
		t.served = max(t.served, s.minServed(t)) // a table back from idle has no credit
	}
	t.backlog, t.oldest = rows, oldest
}

// minServed returns the fewest rows served among active tables other than x (x's own if none).
func (s *Scheduler) minServed(x *tableState) int64 {
	m, found := x.served, false
	for _, t := range s.tables {
		if t != x && (t.backlog > 0 || t.posts > 0) && (!found || t.served < m) {
			m, found = t.served, true
		}
	}
	return m
}

// SetDelivered records how many rows of table the service holds (spool's delivered count).
func (s *Scheduler) SetDelivered(now time.Time, table string, rows int64) {
	if t := s.byName[table]; t != nil {
		t.delivered = rows
		s.updateTier(now)
	}
}

// SetRequeued records how many rows of table were re-queued after an unclean stop over the
// spool's life (spool.Backlog.Requeued): the service may hold them already.
func (s *Scheduler) SetRequeued(now time.Time, table string, rows int64) {
	if t := s.byName[table]; t != nil && t.requeued != rows {
		t.requeued = rows
		s.updateTier(now)
	}
}

// updateTier switches to the large tier once a retention-None table holds (or, counting the rows
// in flight and those whose delivery is unknown, may hold) LargeTableRows rows.
func (s *Scheduler) updateTier(now time.Time) {
	large := false
	for _, t := range s.tables {
		if s.none && s.tableRows(t) >= int64(s.limits.LargeTableRows) {
			large = true
		}
	}
	if large != s.large {
		s.large, s.largeAt = large, now
		s.apply(now)
	}
}

// tableRows is what t may hold at the service: the service's count (read-back) plus what this
// instance delivered since, scaled up by its share (the other instances deliver too); without
// read-back, the local estimate (estimateRows). Rows in flight and rows whose delivery is unknown
// (re-queued after an unclean stop, failed POSTs) count too.
func (s *Scheduler) tableRows(t *tableState) int64 {
	share := s.hold.size()
	if t.svcKnown { // the count holds whatever was re-queued before it was read
		n := satAdd(t.svcRows, estimateRows(t.delivered-t.svcAt, share))
		return satAdd(n, t.unknown+int64(t.inflightRows))
	}
	return satAdd(estimateRows(t.delivered, share), t.requeued+t.unknown+int64(t.inflightRows))
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

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
}

// Scheduler decides, for one dataset, which table posts how many rows when. It is a pure
// function of the times passed in: no goroutines, no clock, not safe for concurrent use.
//
// Limits (per dataset, all at once): rows per POST; rows per rolling hour and POSTs per rolling
// minute (or per rolling hour in the large tier), checked against an exact log of the POSTs of
// the last hour, so no window ever holds more than the limit; pending POSTs. Inside those, two
// x/time/rate pacers spread rows and POSTs evenly. Batch size: n = min(rows per POST, backlog):
// with a backlog every POST is full (at defaults 10,000 rows every 36 s = 1M rows/h in 100
// POSTs, which also fits the 120 POSTs/h large tier) and the POST waits until the hour window
// and the row pacer admit all n; with a trickle, rows go out once the oldest has waited Linger.
// Tables are served fairly: the ready table that has posted the fewest rows goes first.
type Scheduler struct {
	limits config.Limits
	none   bool // retention None: the large tier applies past LargeTableRows
	linger time.Duration
	share  float64
	aimd   aimd
	back   backoff
	eff    effective
	large  bool

	tables []*tableState
	byName map[string]*tableState
	last   int // index of the last table served: round-robin tie break

	win         window
	rowPacer    *pacer
	postPacer   *pacer
	inflight    int
	pausedUntil time.Time
	stats       Stats
}

// tableState is the scheduler's view of one table queue.
type tableState struct {
	name         string
	backlog      int
	oldest       time.Time
	served       int64 // rows posted, for fairness
	delivered    int64 // rows stored in the service (spool count), for the large tier
	inflightRows int
	busy         bool  // one POST per table at a time: keeps row order and bisecting simple
	bisect       []int // sizes of the next POSTs (stack; top = next) while bisecting a rejection
}

// NewScheduler returns a scheduler at now.
func NewScheduler(now time.Time, c SchedulerConfig) *Scheduler {
	s := &Scheduler{
		limits: WithDefaults(c.Limits),
		none:   !strings.EqualFold(c.Retention, "basicFIFO"),
		linger: c.Linger,
		share:  1,
		aimd:   newAIMD(),
		back:   backoff{jitter: c.Jitter},
		byName: map[string]*tableState{},
		last:   -1,
	}
	if s.linger <= 0 {
		s.linger = time.Second
	}
	if s.back.jitter == nil {
		s.back.jitter = fullJitter
	}
	for _, name := range c.Tables {
		t := &tableState{name: name}
		s.tables = append(s.tables, t)
		s.byName[name] = t
	}
	s.eff = scaleLimits(s.limits, 1)
	s.rowPacer = newPacer(float64(s.eff.rowsPerHour)/3600, s.rowBurst()) // starts full
	s.postPacer = newPacer(1, max(1, s.eff.postsPerMinute/12))
	s.apply(now)
	return s
}

// apply recomputes the effective limits and the pacers after a change of limits, share,
// multiplier or tier.
func (s *Scheduler) apply(now time.Time) {
	s.eff = scaleLimits(s.limits, s.share*s.aimd.m)
	s.rowPacer.set(now, float64(s.eff.rowsPerHour)/3600, s.rowBurst())
	if s.large {
		s.postPacer.set(now, float64(s.eff.postsPerHourLarge)/3600, max(1, s.eff.postsPerHourLarge/60))
		return
	}
	s.postPacer.set(now, float64(s.eff.postsPerMinute)/60, max(1, s.eff.postsPerMinute/12))
}

// SetLimits replaces the configured limits; the POSTs already logged keep counting.
func (s *Scheduler) SetLimits(now time.Time, l config.Limits) {
	s.limits = WithDefaults(l)
	s.updateTier(now)
	s.apply(now)
}

// SetShare scales every rate limit by share, clamped to (0,1].
func (s *Scheduler) SetShare(now time.Time, share float64) {
	if !(share > 0) {
		return
	}
	s.share = min(share, 1)
	s.apply(now)
}

// SetBacklog records a table's ready rows and the append time of the oldest.
func (s *Scheduler) SetBacklog(table string, rows int, oldest time.Time) {
	t := s.byName[table]
	if t == nil {
		return
	}
	if t.backlog == 0 && !t.busy && rows > 0 {
		t.served = max(t.served, s.minServed(t)) // a table back from idle has no credit
	}
	t.backlog, t.oldest = rows, oldest
}

// minServed returns the fewest rows served among active tables other than x (x's own if none).
func (s *Scheduler) minServed(x *tableState) int64 {
	m, found := x.served, false
	for _, t := range s.tables {
		if t != x && (t.backlog > 0 || t.busy) && (!found || t.served < m) {
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

// updateTier switches to the large tier once a retention-None table holds (or, counting the rows
// in flight, may hold) LargeTableRows rows.
func (s *Scheduler) updateTier(now time.Time) {
	large := false
	for _, t := range s.tables {
		if s.none && t.delivered+int64(t.inflightRows) >= int64(s.limits.LargeTableRows) {
			large = true
		}
	}
	if large != s.large {
		s.large = large
		s.apply(now)
	}
}

// rowBurst is the row pacer's burst. The exact rolling-hour log is what keeps every 3,600 s window
// within the limit; the pacer only smooths. While the service has not pushed back (AIMD multiplier
// 1), the burst is a quarter of the hourly budget, so a load up to 250,000 rows (at the default
// 1,000,000 rows/h) goes out at the POST rate instead of being spread over the hour. Once the
// service throttles, the burst shrinks to one POST so the lowered rate is followed evenly (a large
// burst would overshoot a service that shares the budget with another writer).
func (s *Scheduler) rowBurst() int {
	if s.aimd.m < 1 {
		return s.eff.rowsPerPost
	}
	return max(s.eff.rowsPerHour/4, s.eff.rowsPerPost)
}

package batcher

import "time"

// Next returns what to do at now. It does not change state: call Sent when a POST goes out.
func (s *Scheduler) Next(now time.Time) Decision {
	s.tick(now)
	s.win.prune(now)
	if now.Before(s.pausedUntil) {
		return Decision{Wait: s.pausedUntil.Sub(now)}
	}
	if w := s.awaitWait(now); w > 0 {
		return Decision{Wait: w} // SetServiceRows wakes the dispatcher
	}
	if s.inflight >= s.eff.pending {
		return Decision{Wait: Forever} // a Result frees a slot
	}
	t, soonest := s.pick(now)
	if t == nil {
		return Decision{Wait: soonest}
	}
	if slot, w := s.freeSlot(now); slot < 0 {
		return Decision{Wait: min(w, s.rampWait())} // no pending slot held now (share.go)
	}
	if s.eff.rowsPerPost < 1 {
		return Decision{Wait: s.rampWait()} // no budget held (yet)
	}
	n := s.fit(now, t)
	if w := s.admitWait(now, t, n); w > 0 {
		w = min(w, s.rampWait())
		if u := s.overtake(now, t, n); u != nil {
			return Decision{Table: u.name, Rows: s.fit(now, u)}
		}
		return Decision{Wait: min(w, soonest)}
	}
	return Decision{Table: t.name, Rows: n}
}

// overtake returns a ready table that may post now while head waits for its n rows: one whose
// rows served after this POST stay within head's after its POST (fair queuing's finish tags),
// or one that posts live rows while head drains a backlog, so a trickle is not held behind a
// full POST that waits for budget.
func (s *Scheduler) overtake(now time.Time, head *tableState, n int) *tableState {
	var best *tableState
	for _, t := range s.tables {
		if t == head || !s.canPost(t) || s.readyIn(now, t) > 0 {
			continue
		}
		k := s.fit(now, t)
		fair := t.served+int64(k) <= head.served+int64(n) || (s.draining(head) && !s.draining(t))
		if !fair || s.admitWait(now, t, k) > 0 {
			continue
		}
		if best == nil || t.served < best.served {
			best = t
		}
	}
	return best
}

// canPost reports whether t has rows and may start one more POST: a table posts one POST at a
// time while it bisects, when Serial, or when its rows fit one POST; a draining table may have
// several in flight.
func (s *Scheduler) canPost(t *tableState) bool {
	if t.backlog <= 0 || s.full(t) {
		return false
	}
	if t.posts == 0 {
		return true
	}
	return !s.serial && t.bisecting == 0 && len(t.bisect) == 0 && s.draining(t)
}

// MaxTableRows is what a retention-None table may hold: the service refuses a POST past it
// (400 RowsLimitExceeded), so its rows would be dead-lettered one by one.
const MaxTableRows = 5_000_000

// full reports whether the service's count (read-back) says t's next POST would take a
// retention-None table past MaxTableRows: its rows wait in the spool instead (Usage.FullTables).
// An estimate never holds a table back: only the service's count does.
func (s *Scheduler) full(t *tableState) bool {
	return s.none && t.svcKnown && s.tableRows(t)+int64(min(t.backlog, s.eff.rowsPerPost)) > MaxTableRows
}

// draining reports whether t is behind: its ready rows fill a POST. Its POSTs use the limits
// less the live reserve.
func (s *Scheduler) draining(t *tableState) bool {
	return len(t.bisect) == 0 && t.backlog >= s.eff.rowsPerPost
}

// pick returns the ready table that has posted the fewest rows (ties: round robin), and how
// long until a table that is not ready yet becomes ready (Forever if none).
func (s *Scheduler) pick(now time.Time) (*tableState, time.Duration) {
	var best *tableState
	soonest := Forever
	for i := range s.tables {
		t := s.tables[(s.last+1+i)%len(s.tables)]
		if !s.canPost(t) {
			continue
		}
		if w := s.readyIn(now, t); w > 0 {
			soonest = min(soonest, w)
			continue
		}
		if best == nil || t.served < best.served {
			best = t
		}
	}
	return best, soonest
}

// readyIn returns how long until t should post: 0 when a full POST is waiting, when bisecting,
// or when its oldest row has waited Linger.
func (s *Scheduler) readyIn(now time.Time, t *tableState) time.Duration {
	if len(t.bisect) > 0 || t.backlog >= s.eff.rowsPerPost || t.oldest.IsZero() {
		return 0
	}
	return max(0, t.oldest.Add(s.linger).Sub(now))
}

// size returns the rows of t's next POST: as many as a POST may carry, or the bisect half.
func (s *Scheduler) size(t *tableState) int {
	n := min(t.backlog, s.eff.rowsPerPost)
	if k := len(t.bisect); k > 0 {
		n = min(n, t.bisect[k-1])
	}
	if s.draining(t) {
		n = min(n, s.drain.rowsPerPost)
	}
	return n
}

// rampStep is how often the scheduler looks again while a share ramps up (its limits grow).
const rampStep = time.Second

func (s *Scheduler) rampWait() time.Duration {
	if s.eff.ramping {
		return rampStep
	}
	return Forever
}

// freeSlot returns a pending slot this instance may start a POST on now, or -1 and how long until
// one may be.
func (s *Scheduler) freeSlot(now time.Time) (int, time.Duration) {
	return s.hold.freeSlot(now, s.limits.PendingPosts, func(j int) bool { return s.slots[j] })
}

// admitWait returns how long until a POST of n rows of t fits every limit (0 = now): the
// rolling windows (less the live reserve while t drains), the cells' hourly buckets
// (hourly.go) and, once throttled, the pacers.
func (s *Scheduler) admitWait(now time.Time, t *tableState, n int) time.Duration {
	l := s.eff
	if s.draining(t) {
		l = s.drain
		if s.inflight >= l.pending {
			return Forever // a Result frees a slot
		}
	}
	// A Kafka holding's hourly limits go through its cells' buckets (hourly.go): its own
	// rolling hour would hold back the cells it keeps for the rows of the cells it lost.
	metered := s.hold.metered()
	w := s.tokenWait(now, n+s.keep(t))
	if !metered {
		w = s.win.rowsWait(now, n, l.rowsPerHour)
	}
	if s.paced() {
		w = max(w, s.rowPacer.delay(now, n), s.postPacer.delay(now, 1))
	}
	if !s.large {
		return max(w, s.win.countWait(now, minute, l.postsPerMinute))
	}
	if metered {
		w = max(w, s.win.countWait(now, minute, l.postsPerMinute))
		if !now.Before(s.largeAt.Add(hour)) {
			return w // every POST of the service's hour drew from the buckets
		}
	}
	// The hour's POSTs before the switch count too: wait for this instance's own.
	return max(w, s.win.countWait(now, hour, l.postsPerHourLarge))
}

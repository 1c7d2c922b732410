package batcher

import (
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Sent records a POST of rows rows of table at now (rows ≤ the Decision's Rows). An unknown
// table or rows < 1 records nothing.
func (s *Scheduler) Sent(now time.Time, table string, rows int) Ticket {
	t := s.byName[table]
	tk := Ticket{Table: table, Rows: rows, sentAt: now}
	if t == nil || rows < 1 {
		return Ticket{}
	}
	s.tick(now)
	if slot, _ := s.freeSlot(now); slot >= 0 {
		s.slots[slot] = true
		tk.slot = slot + 1
	}
	tk.id = s.win.send(now, rows)
	tk.draws = s.take(now, rows)
	if s.paced() {
		s.rowPacer.take(now, rows)
		s.postPacer.take(now, 1)
	}
	s.inflight++
	t.posts++
	t.inflightRows += rows
	t.served += int64(rows)
	t.backlog = max(0, t.backlog-rows)
	if k := len(t.bisect); k > 0 {
		t.bisect, tk.bisect = t.bisect[:k-1], true
		t.bisecting++
	}
	s.last = s.index(t)
	s.stats.Posts++
	s.updateTier(now)
	return tk
}

func (s *Scheduler) index(x *tableState) int {
	for i, t := range s.tables {
		if t == x {
			return i
		}
	}
	return -1
}

// Result records the outcome of the POST tk at now. After Throttled, Retryable or Rejected the
// caller returns the rows to the queue (Nack); they are posted again (Rejected: as two halves)
// by later Decisions. A rejected single row is for the caller to dead-letter.
func (s *Scheduler) Result(now time.Time, tk Ticket, o Outcome) {
	t := s.byName[tk.Table]
	if t == nil || tk.id == 0 {
		return // not a Ticket from Sent
	}
	s.win.finish(tk.id, now)
	s.answered(now, tk.draws, o.Class == Throttled || o.Class == Rejected)
	if tk.slot > 0 {
		delete(s.slots, tk.slot-1)
	}
	s.inflight--
	t.posts--
	if tk.bisect {
		t.bisecting--
	}
	t.inflightRows -= tk.Rows
	switch o.Class {
	case OK:
		s.ok(now, t, tk)
	case Throttled:
		s.throttled(now, t, tk, o.RetryAfter)
	case Retryable:
		s.stats.Retryable++
		t.unknown += int64(tk.Rows) // a 5xx or a lost answer: the rows may be stored
		s.pause(now, s.back.next())
		s.keepBisect(t, tk)
	case Rejected:
		s.rejected(now, t, tk)
	default:
		s.stats.Fatal++
	}
	s.updateTier(now)
}

func (s *Scheduler) ok(now time.Time, t *tableState, tk Ticket) {
	s.stats.OK++
	s.stats.RowsDelivered += int64(tk.Rows)
	t.delivered += int64(tk.Rows)
	s.back.reset()
	if s.aimd.ok(now) {
		s.apply(now)
	}
}

// throttled: the rows were not accepted (refund them), the whole dataset waits Retry-After (or a
// backoff step without one), and repeated 429s lower the local rate.
func (s *Scheduler) throttled(now time.Time, t *tableState, tk Ticket, retryAfter time.Duration) {
	s.stats.Throttled++
	s.win.refund(tk.id)
	s.refundPacer(now, tk.Rows)
	if retryAfter <= 0 {
		retryAfter = s.back.next()
	}
	s.pause(now, retryAfter)
	s.keepBisect(t, tk)
	if s.aimd.throttled(now, tk.sentAt, s.acceptedShare(now)) {
		s.stats.Decreases++
		s.apply(now)
	}
}

// rejected: the service refused the whole POST (refund its rows); bisect it.
func (s *Scheduler) rejected(now time.Time, t *tableState, tk Ticket) {
	s.stats.Rejected++
	if tk.Rows == 1 {
		s.stats.RowsDeadLettered++
	}
	s.win.refund(tk.id)
	s.refundPacer(now, tk.Rows)
	if tk.Rows > 1 {
		first := tk.Rows / 2
		t.bisect = append(t.bisect, tk.Rows-first, first)
	}
}

// keepBisect puts back the bisect step of a POST that will be resent as it was.
func (s *Scheduler) keepBisect(t *tableState, tk Ticket) {
	if tk.bisect {
		t.bisect = append(t.bisect, tk.Rows)
	}
}

// pause stops the dataset until now+d (never shortens a pause).
func (s *Scheduler) pause(now time.Time, d time.Duration) {
	if until := now.Add(d); until.After(s.pausedUntil) {
		s.pausedUntil = until
	}
	s.stats.RetryWaits++
	s.stats.RetryWaitTotal += d
}

// acceptedShare returns the rate the service accepted over the last aimdMeasure as a share of
// the configured rates (× share): the larger of the row and the POST ratios; 0 if unknown.
func (s *Scheduler) acceptedShare(now time.Time) float64 {
	rows, posts, ok := s.win.acceptedRate(now.Add(-aimdMeasure))
	if !ok {
		return 0
	}
	postLimit := float64(s.limits.PostsPerMinute) * 60
	if s.large {
		postLimit = float64(s.limits.PostsPerHourLarge)
	}
	share := s.hold.size()
	if share <= 0 {
		return 0
	}
	return max(rows/float64(s.limits.RowsPerHour), posts/postLimit) / share
}

// Preload counts POSTs sent before this scheduler existed (by a previous process, read from the
// spool) in the rolling windows. Records must be oldest first; those older than an hour or in the
// future are ignored.
func (s *Scheduler) Preload(now time.Time, posts []spool.PostRecord) {
	for _, p := range posts {
		if p.Rows < 0 || p.At.After(now) || !now.Before(p.At.Add(hour)) {
			continue
		}
		s.win.add(p.At, p.Rows)
	}
	s.win.prune(now)
	s.updateTier(now)
}

// refundPacer gives the rows of a refused POST back to the row pacer (when pacing).
func (s *Scheduler) refundPacer(now time.Time, rows int) {
	if s.paced() {
		s.rowPacer.refund(now, rows)
	}
}

package batcher

import "time"

// Usage is a snapshot of a dataset's budget, for metrics and /status.
type Usage struct {
	RowsThisHour     int // rows sent in the last hour (refused POSTs not counted)
	RowsLeftThisHour int
	PostsThisMinute  int
	PostsThisHour    int
	PostsLeft        int // POSTs left in the binding window (minute, or hour in the large tier)
	InFlight         int
	MaxInFlight      int
	LargeTier        bool
	Multiplier       float64  // AIMD multiplier × share applied to the configured rates
	Share            float64  // this instance's part of the dataset's budget (share.go)
	Settling         bool     // part of the share is still ramping up after a rebalance
	FullTables       []string // retention-None tables the service says are full (5,000,000 rows): held
	PausedUntil      time.Time
}

// Stats are cumulative counters.
type Stats struct {
	Posts         int64 // POSTs sent
	OK            int64
	Throttled     int64 // 429s
	Retryable     int64
	Rejected      int64
	Fatal         int64
	RowsDelivered int64
	// RowsDeadLettered counts single rows the service rejected (the caller dead-letters them).
	RowsDeadLettered int64
	RetryWaits       int64         // pauses started (429 or retryable)
	RetryWaitTotal   time.Duration // sum of the pauses asked for
	Decreases        int64         // AIMD decreases
}

// Usage returns the budget at now.
func (s *Scheduler) Usage(now time.Time) Usage {
	s.tick(now)
	s.win.prune(now)
	u := Usage{
		RowsThisHour:    s.win.rows,
		PostsThisMinute: s.win.posts(now, minute),
		PostsThisHour:   len(s.win.entries),
		InFlight:        s.inflight,
		MaxInFlight:     s.eff.pending,
		LargeTier:       s.large,
		Multiplier:      s.hold.size() * s.aimd.m,
		Share:           s.hold.size(),
		Settling:        s.eff.ramping,
		PausedUntil:     s.pausedUntil,
	}
	for _, t := range s.tables {
		if t.backlog > 0 && s.full(t) {
			u.FullTables = append(u.FullTables, t.name)
		}
	}
	u.RowsLeftThisHour = max(0, s.eff.rowsPerHour-u.RowsThisHour)
	u.PostsLeft = max(0, s.eff.postsPerMinute-u.PostsThisMinute)
	if s.large {
		u.PostsLeft = max(0, s.eff.postsPerHourLarge-u.PostsThisHour)
	}
	if s.hold.metered() { // the cells' hourly buckets (hourly.go) may hold less
		rows, posts, _ := s.tokens(now)
		u.RowsLeftThisHour = min(u.RowsLeftThisHour, int(rows))
		if s.large {
			u.PostsLeft = min(u.PostsLeft, int(posts))
		}
	}
	return u
}

// Stats returns the counters.
func (s *Scheduler) Stats() Stats { return s.stats }

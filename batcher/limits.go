package batcher

import (
	"math"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// Power BI push dataset limits, used for zero fields of config.Limits.
const (
	DefaultRowsPerPost       = 10_000
	DefaultPostsPerMinute    = 120
	DefaultRowsPerHour       = 1_000_000
	DefaultPendingPosts      = 5
	DefaultPostsPerHourLarge = 120
	DefaultLargeTableRows    = 250_000
)

// WithDefaults returns l with every zero (or negative) field set to the Power BI default.
func WithDefaults(l config.Limits) config.Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.RowsPerPost, DefaultRowsPerPost)
	def(&l.PostsPerMinute, DefaultPostsPerMinute)
	def(&l.RowsPerHour, DefaultRowsPerHour)
	def(&l.PendingPosts, DefaultPendingPosts)
	def(&l.PostsPerHourLarge, DefaultPostsPerHourLarge)
	def(&l.LargeTableRows, DefaultLargeTableRows)
	return l
}

// effective holds the limits the scheduler enforces now: the configured limits scaled by the
// instance's share (share.go) and the AIMD multiplier, rounded down so that the instances' limits
// add up to at most the dataset's. A rate may be 0 (this instance holds too little of it yet);
// pending is at least 1 (the slots of share.go bound it across instances).
type effective struct {
	rowsPerPost       int // never above rowsPerHour: a POST must fit the hour
	rowsPerHour       int
	postsPerMinute    int
	postsPerHourLarge int
	pending           int
	ramping           bool // a share is still ramping up: the limits grow with time
}

// effAt returns the effective limits at now.
func (s *Scheduler) effAt(now time.Time) effective {
	m := s.aimd.m
	// Only the minute window ramps; the hourly limits use the share held now (share.go).
	fMin, ramping := s.hold.ramped(now, minute)
	fHourPosts := s.hold.size()
	fRows := fHourPosts
	sc := func(v int, f float64) int { return int(math.Floor(float64(v)*f*m + 1e-9)) }
	l := s.limits
	e := effective{
		rowsPerHour:       sc(l.RowsPerHour, fRows),
		postsPerMinute:    sc(l.PostsPerMinute, fMin),
		postsPerHourLarge: sc(l.PostsPerHourLarge, fHourPosts),
		pending:           max(1, sc(l.PendingPosts, 1)),
		ramping:           ramping,
	}
	e.rowsPerPost = min(l.RowsPerPost, e.rowsPerHour)
	return e
}

// scaleLimits scales each rate (and the pending count) of l by f, rounding down, each at least 1:
// a forecast's limits (forecast.go), not a share of the dataset's (effAt).
func scaleLimits(l config.Limits, f float64) effective {
	sc := func(v int) int { return max(1, int(math.Floor(float64(v)*f+1e-9))) }
	e := effective{
		rowsPerHour:       sc(l.RowsPerHour),
		postsPerMinute:    sc(l.PostsPerMinute),
		postsPerHourLarge: sc(l.PostsPerHourLarge),
		pending:           sc(l.PendingPosts),
	}
	e.rowsPerPost = min(l.RowsPerPost, e.rowsPerHour)
	return e
}

// less returns e with every rate (and the pending count) lowered by the share reserve, each at
// least 1; with a reserve, one pending slot is kept too (when there are two or more).
func (e effective) less(reserve float64) effective {
	if reserve <= 0 {
		return e
	}
	sc := func(v int) int {
		if v <= 0 {
			return 0 // nothing held: nothing to reserve from
		}
		return max(1, int(math.Floor(float64(v)*(1-reserve)+1e-9)))
	}
	d := effective{
		rowsPerHour:       sc(e.rowsPerHour),
		postsPerMinute:    sc(e.postsPerMinute),
		postsPerHourLarge: sc(e.postsPerHourLarge),
		pending:           max(1, e.pending-1),
	}
	d.rowsPerPost = min(e.rowsPerPost, d.rowsPerHour)
	return d
}

package batcher

import (
	"math"

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
// instance share and the AIMD multiplier. Every field is at least 1.
type effective struct {
	rowsPerPost       int // never above rowsPerHour: a POST must fit the hour
	rowsPerHour       int
	postsPerMinute    int
	postsPerHourLarge int
	pending           int
}

// scaleLimits scales each rate (and the pending count) of l by f, rounding down.
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
	sc := func(v int) int { return max(1, int(math.Floor(float64(v)*(1-reserve)+1e-9))) }
	d := effective{
		rowsPerHour:       sc(e.rowsPerHour),
		postsPerMinute:    sc(e.postsPerMinute),
		postsPerHourLarge: sc(e.postsPerHourLarge),
		pending:           max(1, e.pending-1),
	}
	d.rowsPerPost = min(e.rowsPerPost, d.rowsPerHour)
	return d
}

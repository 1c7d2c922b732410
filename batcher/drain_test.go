package batcher

import (
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// A backlog drains at the hourly ceiling with no window over any limit.
func TestDrainBacklog(t *testing.T) {
	tests := []struct {
		name      string
		limits    config.Limits
		retention string
		backlog   int
		latency   time.Duration
		maxTime   time.Duration // drain must finish within
		minRate   float64       // rows/h achieved, at least
		postsHour int           // when > 0: max POSTs in any rolling hour
	}{
		{name: "5M rows basicFIFO", retention: "basicFIFO", backlog: 5_000_000, latency: 300 * time.Millisecond,
			maxTime: 5*time.Hour + 3*time.Minute, minRate: 990_000},
		{name: "5M rows None, large tier", backlog: 5_000_000, latency: 300 * time.Millisecond,
			maxTime: 5*time.Hour + 3*time.Minute, minRate: 990_000, postsHour: 120},
		{name: "1k-row POSTs in the large tier: POSTs bind", limits: config.Limits{RowsPerPost: 1000},
			backlog: 400_000, latency: 300 * time.Millisecond, maxTime: 4 * time.Hour, minRate: 100_000, postsHour: 120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newSim(SchedulerConfig{Limits: tc.limits, Retention: tc.retention, Tables: []string{"a"}})
			m.latency = tc.latency
			m.q["a"].push(tc.backlog, t0)
			m.run(t0.Add(24 * time.Hour))

			lim := WithDefaults(tc.limits)
			last := m.posts[len(m.posts)-1].at.Add(tc.latency)
			took := last.Sub(t0)
			rate := float64(tc.backlog) / took.Hours()
			t.Logf("drained %d rows in %v (%.0f rows/h, %d POSTs, max in flight %d)", tc.backlog, took, rate, len(m.posts), m.maxIn)
			if m.accepted["a"] != tc.backlog {
				t.Fatalf("accepted %d rows, want %d", m.accepted["a"], tc.backlog)
			}
			if took > tc.maxTime || rate < tc.minRate {
				t.Errorf("drain took %v (%.0f rows/h), want <= %v and >= %.0f rows/h", took, rate, tc.maxTime, tc.minRate)
			}
			checkLimits(t, m.posts, lim, tc.postsHour)
			if m.maxIn > lim.PendingPosts {
				t.Errorf("%d POSTs in flight, limit %d", m.maxIn, lim.PendingPosts)
			}
		})
	}
}

// checkLimits fails when any rolling window of posts is over a limit.
func checkLimits(t *testing.T, posts []simPost, lim config.Limits, postsPerHour int) {
	t.Helper()
	rowsH := maxInWindow(posts, time.Hour, rowsOf)
	postsM := maxInWindow(posts, time.Minute, one)
	// The large tier starts with the first POST after LargeTableRows rows were accepted.
	from, sent := len(posts), 0
	for i, p := range posts {
		if sent >= lim.LargeTableRows {
			from = i
			break
		}
		sent += acceptedRows(p)
	}
	postsH := maxInWindowFrom(posts, from, time.Hour, one)
	biggest := 0
	for _, p := range posts {
		biggest = max(biggest, p.rows)
	}
	t.Logf("worst windows: %d rows/h, %d POSTs/min, %d POSTs/h in the large tier, %d rows/POST", rowsH, postsM, postsH, biggest)
	if rowsH > lim.RowsPerHour || postsM > lim.PostsPerMinute || biggest > lim.RowsPerPost {
		t.Errorf("over a limit: %d rows/h (limit %d), %d POSTs/min (limit %d), %d rows/POST (limit %d)",
			rowsH, lim.RowsPerHour, postsM, lim.PostsPerMinute, biggest, lim.RowsPerPost)
	}
	if postsPerHour > 0 && postsH > postsPerHour {
		t.Errorf("%d POSTs in an hour, limit %d", postsH, postsPerHour)
	}
}

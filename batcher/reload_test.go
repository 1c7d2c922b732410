package batcher

import (
	"fmt"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// SetLimits and SetShare apply to every window that ends after the change, and lose no rows.
func TestReloadLimits(t *testing.T) {
	tests := []struct {
		name     string
		change   func(s *Scheduler, now time.Time)
		rowsHour int // limit for windows ending after the change
		postsMin int
	}{
		{name: "rows_per_hour lowered", change: func(s *Scheduler, now time.Time) {
			s.SetLimits(now, config.Limits{RowsPerHour: 200_000})
		}, rowsHour: 200_000, postsMin: 120},
		{name: "share 0.5", change: func(s *Scheduler, now time.Time) { s.SetShare(now, 0.5) },
			rowsHour: 500_000, postsMin: 60},
		{name: "posts_per_minute 1 with small POSTs", change: func(s *Scheduler, now time.Time) {
			s.SetLimits(now, config.Limits{PostsPerMinute: 1, RowsPerPost: 100})
		}, rowsHour: 1_000_000, postsMin: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newSim(SchedulerConfig{Retention: "basicFIFO", Tables: []string{"a"}})
			m.latency = 100 * time.Millisecond
			m.q["a"].push(3_000_000, t0)
			m.run(t0.Add(30 * time.Minute))
			from := len(m.posts)
			tc.change(m.s, m.now)
			m.run(t0.Add(3 * time.Hour))

			rowsH := maxInWindowFrom(m.posts, from, time.Hour, rowsOf)
			postsM := maxInWindowFrom(m.posts, from, time.Minute, one)
			after := 0
			for _, p := range m.posts[from:] {
				after += p.rows
			}
			t.Logf("after the change: %d rows in %d POSTs; worst windows %d rows/h, %d POSTs/min", after, len(m.posts)-from, rowsH, postsM)
			if rowsH > tc.rowsHour || postsM > tc.postsMin || after == 0 {
				t.Errorf("worst windows %d rows/h, %d POSTs/min, want <= %d, %d (and progress)", rowsH, postsM, tc.rowsHour, tc.postsMin)
			}
			if got := m.accepted["a"] + m.q["a"].rows + inFlightRows(m); got != 3_000_000 {
				t.Errorf("rows accounted %d, want 3000000", got)
			}
		})
	}
}

// Pending POSTs never exceed the limit (the slots held under a share and the AIMD multiplier), and nothing is
// sent while the dataset is paused by a 429.
func TestPendingAndPause(t *testing.T) {
	tables := make([]string, 20)
	for i := range tables {
		tables[i] = fmt.Sprint("t", i)
	}
	tests := []struct {
		name     string
		share    float64
		throttle bool
		want     int
	}{
		{name: "limit 5", share: 1, want: 5},
		// Half of share space holds 2 or 3 of the 5 sweeping slots (share.go): 2.5 on average.
		{name: "share 0.5", share: 0.5, want: 3},
		{name: "throttled", share: 1, throttle: true, want: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newSim(SchedulerConfig{Retention: "basicFIFO", Tables: tables})
			m.s.SetShare(t0, tc.share)
			m.latency = 20 * time.Second
			if tc.throttle {
				m.srv = bucketServer(0.3, false)
			}
			var pauses [][2]time.Time
			m.onResult = func(now time.Time, o Outcome) {
				if o.Class == Throttled {
					pauses = append(pauses, [2]time.Time{now, now.Add(o.RetryAfter)})
				}
			}
			m.arrive = func(now time.Time) time.Time {
				for _, tb := range tables {
					m.q[tb].push(5, now)
				}
				return now.Add(time.Second)
			}
			m.run(t0.Add(30 * time.Minute))
			sentPaused := 0
			for _, p := range m.posts {
				for _, w := range pauses {
					if !p.at.Before(w[0]) && p.at.Before(w[1]) {
						sentPaused++
					}
				}
			}
			st := m.s.Stats()
			t.Logf("%d POSTs, max %d in flight, %d throttled, %d sent while paused, pending now %d",
				len(m.posts), m.maxIn, st.Throttled, sentPaused, m.s.Usage(m.now).MaxInFlight)
			if m.maxIn != tc.want || sentPaused != 0 {
				t.Errorf("max in flight %d (want %d), %d POSTs sent while paused", m.maxIn, tc.want, sentPaused)
			}
			if tc.throttle && (st.Throttled == 0 || m.s.Usage(m.now).MaxInFlight >= 5) {
				t.Errorf("throttling did not lower concurrency: %d 429s, pending %d", st.Throttled, m.s.Usage(m.now).MaxInFlight)
			}
		})
	}
}

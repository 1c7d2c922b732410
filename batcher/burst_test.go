package batcher

import (
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// A load well under the hourly budget goes out at the POST rate, not spread over the hour, and
// still never puts more than the limit in any rolling hour.
func TestSmallBacklogGoesOutAtPostRate(t *testing.T) {
	tests := []struct {
		name    string
		limits  config.Limits
		backlog int
		within  time.Duration
	}{
		{"50k rows in 1k-row POSTs", config.Limits{RowsPerPost: 1000}, 50_000, 30 * time.Second},
		{"250k rows in full POSTs", config.Limits{}, 250_000, 20 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newSim(SchedulerConfig{Limits: tc.limits, Retention: "basicFIFO", Tables: []string{"a"}})
			m.latency = 100 * time.Millisecond
			m.q["a"].push(tc.backlog, t0)
			m.run(t0.Add(2 * time.Hour))
			lim := WithDefaults(tc.limits)
			last := m.posts[len(m.posts)-1].at.Add(m.latency)
			if took := last.Sub(t0); took > tc.within {
				t.Errorf("%d rows took %v, want within %v", tc.backlog, took, tc.within)
			}
			if got := maxInWindow(m.posts, time.Minute, func(simPost) int { return 1 }); got > lim.PostsPerMinute {
				t.Errorf("%d POSTs in a rolling minute, limit %d", got, lim.PostsPerMinute)
			}
			if got := maxInWindow(m.posts, time.Hour, rowsOf); got > lim.RowsPerHour {
				t.Errorf("%d rows in a rolling hour, limit %d", got, lim.RowsPerHour)
			}
		})
	}
}

// Past the burst, a long backlog is paced: the rolling hour never exceeds the budget.
func TestBurstThenPacedWithinHourlyBudget(t *testing.T) {
	m := newSim(SchedulerConfig{Limits: config.Limits{RowsPerHour: 200_000}, Retention: "basicFIFO", Tables: []string{"a"}})
	m.latency = 100 * time.Millisecond
	m.q["a"].push(600_000, t0)
	m.run(t0.Add(4 * time.Hour))
	if got := maxInWindow(m.posts, time.Hour, rowsOf); got > 200_000 {
		t.Fatalf("%d rows in a rolling hour, limit 200000", got)
	}
	var firstMinute int
	for _, p := range m.posts {
		if p.at.Sub(t0) < time.Minute {
			firstMinute += p.rows
		}
	}
	if firstMinute < 50_000 {
		t.Errorf("first minute carried %d rows, want the 50,000-row burst (a quarter of the hour)", firstMinute)
	}
}

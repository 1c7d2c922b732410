package batcher

import (
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// A restarted scheduler that preloads its predecessor's POSTs keeps every rolling window within
// the limits across the restart: the combined log of both processes never exceeds them.
func TestPreloadKeepsWindowsAcrossRestart(t *testing.T) {
	tests := []struct {
		name   string
		limits config.Limits
		before []spool.PostRecord // sent by the previous process, relative to t0
	}{
		{"hour budget spent 30 min ago", config.Limits{}, spread(100, 10_000, -30*time.Minute, 10*time.Second)},
		{"minute budget spent just now", config.Limits{RowsPerPost: 100}, spread(120, 100, -50*time.Second, 400*time.Millisecond)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newSim(SchedulerConfig{Limits: tc.limits, Retention: "basicFIFO", Tables: []string{"a"}})
			m.latency = 100 * time.Millisecond
			m.s.Preload(t0, tc.before)
			m.q["a"].push(300_000, t0)
			m.run(t0.Add(3 * time.Hour))
			all := make([]simPost, 0, len(tc.before)+len(m.posts))
			for _, p := range tc.before {
				all = append(all, simPost{at: p.At, rows: p.Rows, table: "a"})
			}
			all = append(all, m.posts...)
			lim := WithDefaults(tc.limits)
			if got := maxInWindow(all, time.Hour, rowsOf); got > lim.RowsPerHour {
				t.Errorf("%d rows in a rolling hour across the restart, limit %d", got, lim.RowsPerHour)
			}
			if got := maxInWindow(all, time.Minute, func(simPost) int { return 1 }); got > lim.PostsPerMinute {
				t.Errorf("%d POSTs in a rolling minute across the restart, limit %d", got, lim.PostsPerMinute)
			}
		})
	}
}

// spread returns n records of rows each, the first at t0+start, every step.
func spread(n, rows int, start, step time.Duration) []spool.PostRecord {
	out := make([]spool.PostRecord, n)
	for i := range out {
		out[i] = spool.PostRecord{At: t0.Add(start + time.Duration(i)*step), Rows: rows}
	}
	return out
}

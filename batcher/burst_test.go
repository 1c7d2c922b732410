package batcher

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// A backlog goes out as fast as every limit permits: POSTs start as soon as the windows admit
// them, several per table, up to the pending limit; no window is ever over its limit.
func TestBacklogDrainsGreedily(t *testing.T) {
	tests := []struct {
		name      string
		limits    config.Limits
		retention string
		backlog   int
		latency   time.Duration
		within    time.Duration // last POST answered within
	}{
		// 30 POSTs, 5 at a time: 6 rounds of the latency (the typical script needs 30).
		{"300k rows into an empty table", config.Limits{}, "", 300_000, 150 * time.Millisecond, 6*150*time.Millisecond + time.Millisecond},
		{"300k rows basicFIFO", config.Limits{}, "basicFIFO", 300_000, 150 * time.Millisecond, 6*150*time.Millisecond + time.Millisecond},
		// 100 POSTs fit the minute: 20 rounds.
		{"1M rows: the whole hour at once", config.Limits{}, "basicFIFO", 1_000_000, 100 * time.Millisecond, 20*100*time.Millisecond + time.Millisecond},
		// 250 POSTs of 1,000 rows: 120 in the first minute, 120 in the next, 10 in the third.
		{"250k rows in 1k-row POSTs: the minute binds", config.Limits{RowsPerPost: 1000}, "basicFIFO", 250_000, 100 * time.Millisecond, 2*time.Minute + 2*time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newSim(SchedulerConfig{Limits: tc.limits, Retention: tc.retention, Tables: []string{"a"}})
			m.latency = tc.latency
			m.q["a"].push(tc.backlog, t0)
			m.run(t0.Add(2 * time.Hour))
			lim := WithDefaults(tc.limits)
			last := m.posts[len(m.posts)-1].at.Add(m.latency)
			took := last.Sub(t0)
			t.Logf("%d rows in %d POSTs took %v, max %d in flight", tc.backlog, len(m.posts), took, m.maxIn)
			if m.accepted["a"] != tc.backlog || took > tc.within {
				t.Errorf("%d of %d rows took %v, want all within %v", m.accepted["a"], tc.backlog, took, tc.within)
			}
			if m.maxIn != lim.PendingPosts {
				t.Errorf("at most %d POSTs in flight, want the pending limit %d", m.maxIn, lim.PendingPosts)
			}
			checkLimits(t, m.posts, lim, 0)
		})
	}
}

// A backlog larger than the hour goes out a whole hourly budget at a time, never more in any
// rolling hour, and finishes in (backlog / budget - 1) hours plus the tail's few seconds.
func TestGreedyWithinHourlyBudget(t *testing.T) {
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
	took := m.posts[len(m.posts)-1].at.Add(m.latency).Sub(t0)
	t.Logf("first minute %d rows; 600k rows took %v", firstMinute, took)
	if firstMinute != 200_000 {
		t.Errorf("first minute carried %d rows, want the whole hour's 200,000", firstMinute)
	}
	if took > 2*time.Hour+time.Minute {
		t.Errorf("600k rows at 200k/h took %v, want within 2h01m", took)
	}
}

// With a live reserve (streaming mode) a backlog leaves the reserve of every limit, and one
// pending slot, to live rows; without one (backfill) it takes everything.
func TestLiveReserve(t *testing.T) {
	tests := []struct {
		reserve     float64
		wantHour    int // rows of the backlog in the first hour
		wantPending int
	}{
		{reserve: 0, wantHour: 1_000_000, wantPending: 5},
		{reserve: config.DefaultLiveReserve, wantHour: 900_000, wantPending: 4},
		{reserve: 0.25, wantHour: 750_000, wantPending: 4},
	}
	for _, tc := range tests {
		m := newSim(SchedulerConfig{Retention: "basicFIFO", Tables: []string{"a"}, LiveReserve: tc.reserve})
		m.latency = 100 * time.Millisecond
		m.q["a"].push(3_000_000, t0)
		m.run(t0.Add(59 * time.Minute))
		if m.accepted["a"] != tc.wantHour || m.maxIn != tc.wantPending {
			t.Errorf("reserve %v: backlog sent %d rows in the first hour with up to %d in flight, want %d and %d",
				tc.reserve, m.accepted["a"], m.maxIn, tc.wantHour, tc.wantPending)
		}
	}
}

// The real Dispatcher (goroutines, timers, virtual clock) drains a 300,000-row backfill into an
// empty table in 6 rounds of the POST latency: 30 POSTs, 5 in flight, none held back.
func TestDispatcherDrainsGreedily(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(Options{})
		h.s.latency = 150 * time.Millisecond
		start := time.Now()
		h.q.append(keyA, 300_000)
		for {
			if acked, _, _, _ := h.q.counts(); acked == 300_000 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		took := time.Since(start)
		if err := h.stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		calls := h.s.snapshot()
		t.Logf("300k rows in %d POSTs took %v", len(calls), took)
		if len(calls) != 30 || took > 6*150*time.Millisecond+10*time.Millisecond {
			t.Errorf("%d POSTs took %v, want 30 within 6 × 150ms", len(calls), took)
		}
		checkLimits(t, callsAsPosts(calls), WithDefaults(config.Limits{}), 0)
	})
}

package batcher

import (
	"github.com/pbi-pusher/pbi-pusher/config"
	"testing"
	"time"
)

// Tables of one dataset share its budget: two backlogs split it evenly, and a trickle next to a
// backlog is not held behind it (streaming mode: the live reserve keeps budget and a pending slot
// for it, so it is posted within linger even while the backlog drains greedily).
func TestFairShare(t *testing.T) {
	tests := []struct {
		name     string
		backlogA int
		backlogB int
		trickleB bool // b gets 1 row/s instead of a backlog
	}{
		{name: "two backlogs", backlogA: 3_000_000, backlogB: 3_000_000},
		{name: "unequal backlogs", backlogA: 5_000_000, backlogB: 1_500_000},
		{name: "backlog and trickle", backlogA: 3_000_000, trickleB: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := SchedulerConfig{Retention: "basicFIFO", Tables: []string{"a", "b"}}
			if tc.trickleB {
				c.LiveReserve = config.DefaultLiveReserve
			}
			m := newSim(c)
			m.latency = 200 * time.Millisecond
			m.q["a"].push(tc.backlogA, t0)
			if tc.backlogB > 0 {
				m.q["b"].push(tc.backlogB, t0)
			}
			if tc.trickleB {
				m.arrive = func(now time.Time) time.Time { m.q["b"].push(1, now); return now.Add(time.Second) }
			}
			m.run(t0.Add(time.Hour))

			a, b := m.accepted["a"], m.accepted["b"]
			var latB time.Duration
			for _, p := range m.posts {
				if p.table == "b" {
					latB = max(latB, p.maxLat)
				}
			}
			t.Logf("first hour: a %d rows, b %d rows; worst b row wait %v", a, b, latB)
			checkLimits(t, m.posts, WithDefaults(m.s.limits), 0)
			if tc.trickleB {
				if latB > time.Second+50*time.Millisecond || b < 3500 {
					t.Errorf("trickle: %d rows posted, worst wait %v, want all 3600 within 1.05s", b, latB)
				}
				if a+b < 890_000 {
					t.Errorf("backlog: %d rows in the first hour, want the hour less the reserve (900,000) less the trickle", a)
				}
				return
			}
			if share := float64(a) / float64(a+b); share < 0.45 || share > 0.55 || a+b < 990_000 {
				t.Errorf("a got %.3f of %d rows, want 0.5±0.05 of >= 990000", share, a+b)
			}
		})
	}
}

// A trickle is posted once its oldest row waited Linger, whatever Linger is.
func TestTrickleLatency(t *testing.T) {
	tests := []struct {
		linger   time.Duration
		interval time.Duration
	}{
		{linger: time.Second, interval: time.Second},
		{linger: time.Second, interval: 100 * time.Millisecond},
		{linger: 250 * time.Millisecond, interval: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.linger.String()+"/"+tc.interval.String(), func(t *testing.T) {
			m := newSim(SchedulerConfig{Linger: tc.linger, Tables: []string{"a"}})
			m.latency = 300 * time.Millisecond
			m.arrive = func(now time.Time) time.Time { m.q["a"].push(1, now); return now.Add(tc.interval) }
			m.run(t0.Add(10 * time.Minute))

			var worst time.Duration
			for _, p := range m.posts {
				worst = max(worst, p.maxLat)
			}
			want := int(10*time.Minute/tc.interval) * 9 / 10
			t.Logf("%d rows in %d POSTs, worst wait %v", m.accepted["a"], len(m.posts), worst)
			if worst > tc.linger+50*time.Millisecond || m.accepted["a"] < want {
				t.Errorf("worst wait %v (want <= linger+50ms), %d rows posted (want >= %d)", worst, m.accepted["a"], want)
			}
		})
	}
}

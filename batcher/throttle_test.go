package batcher

import (
	"math"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"golang.org/x/time/rate"
)

// bucketServer accepts at frac of the default limits (token buckets) and answers 429 with the
// Retry-After (whole seconds) its buckets need; noRetryAfter leaves the header out.
func bucketServer(frac float64, noRetryAfter bool) server {
	rows := rate.NewLimiter(rate.Limit(frac*DefaultRowsPerHour/3600), DefaultRowsPerPost)
	posts := rate.NewLimiter(rate.Limit(frac*DefaultPostsPerMinute/60), 1)
	return func(now time.Time, _ string, cs []chunk) Outcome {
		n := 0
		for _, c := range cs {
			n += c.n
		}
		need := max((float64(n)-rows.TokensAt(now))/float64(rows.Limit()), (1-posts.TokensAt(now))/float64(posts.Limit()))
		if need > 0 {
			o := Outcome{Class: Throttled, RetryAfter: time.Duration(math.Ceil(need)) * time.Second}
			if noRetryAfter {
				o.RetryAfter = 0
			}
			return o
		}
		rows.ReserveN(now, n)
		posts.ReserveN(now, 1)
		return Outcome{Class: OK}
	}
}

// windowServer accepts at frac of the default limits per rolling hour/minute, like Power BI.
func windowServer(frac float64) server {
	var w window
	rowsLimit, postsLimit := int(frac*DefaultRowsPerHour), int(frac*DefaultPostsPerMinute)
	return func(now time.Time, _ string, cs []chunk) Outcome {
		n := 0
		for _, c := range cs {
			n += c.n
		}
		w.prune(now)
		wait := max(w.rowsWait(now, n, rowsLimit), w.countWait(now, minute, postsLimit))
		if wait > 0 {
			return Outcome{Class: Throttled, RetryAfter: wait.Round(time.Second) + time.Second}
		}
		w.add(now, n)
		return Outcome{Class: OK}
	}
}

// A server that shares the dataset with another writer (it throttles at 60% of the configured
// limits) is matched within 10% after 10 minutes, and no row is lost or duplicated.
func TestThrottledServerMatched(t *testing.T) {
	const total = 3_000_000
	tests := []struct {
		name string
		srv  server
	}{
		{name: "token buckets, Retry-After", srv: bucketServer(0.6, false)},
		{name: "token buckets, no Retry-After", srv: bucketServer(0.6, true)},
		{name: "rolling windows, Retry-After", srv: windowServer(0.6)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newSim(SchedulerConfig{Retention: "basicFIFO", Tables: []string{"a"}})
			m.latency = 300 * time.Millisecond
			m.srv = tc.srv
			m.q["a"].push(total, t0)
			m.run(t0.Add(2*time.Hour + 10*time.Minute))

			const want = 0.6 * DefaultRowsPerHour
			for h := range 2 {
				from := t0.Add(10*time.Minute + time.Duration(h)*time.Hour)
				got := 0
				for _, p := range m.posts {
					if !p.at.Before(from) && p.at.Before(from.Add(time.Hour)) {
						got += acceptedRows(p)
					}
				}
				t.Logf("hour from %v: %d rows accepted (%.1f%% of the server's %0.f)", from.Sub(t0), got, 100*float64(got)/want, want)
				if math.Abs(float64(got)-want) > 0.1*want {
					t.Errorf("hour from %v: %d rows accepted, want %0.f±10%%", from.Sub(t0), got, want)
				}
			}
			st := m.s.Stats()
			u := m.s.Usage(m.now)
			t.Logf("%d POSTs, %d throttled, %d decreases, multiplier %.2f", st.Posts, st.Throttled, st.Decreases, u.Multiplier)
			if got := m.accepted["a"] + m.q["a"].rows + inFlightRows(m); got != total || len(m.dead) > 0 {
				t.Errorf("rows accepted+queued+in flight = %d, want %d; %d dead-lettered", got, total, len(m.dead))
			}
		})
	}
}

func inFlightRows(m *sim) int {
	n := 0
	for _, f := range m.flights {
		n += f.tk.Rows
	}
	return n
}

// A greedy drain sends a minute's POSTs within seconds; 429s the budget did not predict (another
// writer) must still lower the multiplier (design invariant 3, AIMD): the burst the service
// accepted before them is not a rate that would keep the multiplier at 1.
func TestGreedyBurstThrottledLowersMultiplier(t *testing.T) {
	tests := []struct {
		name    string
		every   int // every n-th POST is answered 429 Retry-After: 1s
		backlog int
	}{
		{name: "every 5th POST throttled, 2,000 rows", every: 5, backlog: 2000},
		{name: "every 4th POST throttled, 5,000 rows", every: 4, backlog: 5000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newSim(SchedulerConfig{Limits: config.Limits{RowsPerPost: 100}, Retention: "basicFIFO", Tables: []string{"a"}})
			m.latency = 300 * time.Millisecond
			n := 0
			m.srv = func(time.Time, string, []chunk) Outcome {
				n++
				if n%tc.every == 0 {
					return Outcome{Class: Throttled, RetryAfter: time.Second}
				}
				return Outcome{Class: OK}
			}
			m.q["a"].push(tc.backlog, t0)
			m.run(t0.Add(2 * time.Minute))
			st, u := m.s.Stats(), m.s.Usage(m.now)
			t.Logf("%d POSTs, %d throttled, %d decreases, multiplier %.2f, %d rows accepted", st.Posts, st.Throttled, st.Decreases, u.Multiplier, m.accepted["a"])
			if st.Throttled < 2 || u.Multiplier >= 1 || st.Decreases < 1 {
				t.Errorf("%d 429s, %d decreases, multiplier %v: want the repeated 429s to lower it below 1", st.Throttled, st.Decreases, u.Multiplier)
			}
			if m.accepted["a"] != tc.backlog {
				t.Errorf("%d of %d rows accepted", m.accepted["a"], tc.backlog)
			}
		})
	}
}

package batcher

import (
	"math"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/sink"
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
			o := Outcome{Class: sink.Throttled, RetryAfter: time.Duration(math.Ceil(need)) * time.Second}
			if noRetryAfter {
				o.RetryAfter = 0
			}
			return o
		}
		rows.ReserveN(now, n)
		posts.ReserveN(now, 1)
		return Outcome{Class: sink.OK}
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
			return Outcome{Class: sink.Throttled, RetryAfter: wait.Round(time.Second) + time.Second}
		}
		w.add(now, n)
		return Outcome{Class: sink.OK}
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

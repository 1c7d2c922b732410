package batcher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// The Dispatcher tests run the real goroutines and timers inside testing/synctest: time is
// virtual and jumps when every goroutine is blocked.

// classErr is a Sender error that carries its classification.
type classErr struct{ o Outcome }

func (e classErr) Error() string { return "service says: " + e.o.Message }

func testClassify(err error) Outcome {
	var ce classErr
	switch {
	case err == nil:
		return Outcome{Class: OK}
	case errors.As(err, &ce):
		return ce.o
	default:
		return Outcome{Class: Retryable, Message: err.Error()}
	}
}

var keyA = spool.QueueKey{Dataset: "ds", Table: "a"}

// harness runs a Dispatcher for dataset "ds" with tables a and b.
type harness struct {
	q      *memQueue
	s      *fakeSender
	d      *Dispatcher
	cancel context.CancelFunc
	done   chan error
}

func start(o Options) *harness {
	h := &harness{q: newMemQueue(), s: &fakeSender{latency: 200 * time.Millisecond}, done: make(chan error, 1)}
	o.Dataset.Name = "ds"
	o.Dataset.Tables = []config.Table{{Name: "a"}, {Name: "b"}}
	h.s.limits = Limits{Rates: o.Dataset.Limits, Retention: o.Dataset.Retention}
	o.Queue, o.Destination = h.q, h.s
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration { return d }
	}
	h.d = NewDispatcher(o)
	var ctx context.Context
	ctx, h.cancel = context.WithCancel(context.Background())
	go func() { h.done <- h.d.Run(ctx) }()
	return h
}

// stop cancels Run and returns its error.
func (h *harness) stop() error {
	h.cancel()
	return <-h.done
}

// callsAsPosts turns the sender's calls into simPosts for the limit checks.
func callsAsPosts(cs []call) []simPost {
	ps := make([]simPost, len(cs))
	for i, c := range cs {
		cl := OK
		if c.err != nil {
			cl = testClassify(c.err).Class
		}
		ps[i] = simPost{at: c.at, table: c.table, rows: len(c.seqs), class: cl}
	}
	return ps
}

func TestDispatcherTrickleAndBacklog(t *testing.T) {
	tests := []struct {
		name    string
		backlog int // rows in a at start
		trickle int // rows appended to b, one per second
		run     time.Duration
	}{
		{name: "trickle 1 row/s", trickle: 120, run: 3 * time.Minute},
		{name: "backlog of 200k rows", backlog: 200_000, run: 15 * time.Minute},
		{name: "backlog and trickle", backlog: 200_000, trickle: 300, run: 15 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := start(Options{Linger: time.Second})
				h.q.append(keyA, tc.backlog)
				appended := map[uint64]time.Time{}
				for range tc.trickle {
					h.q.append(spool.QueueKey{Dataset: "ds", Table: "b"}, 1)
					appended[h.q.seq] = time.Now()
					time.Sleep(time.Second)
				}
				time.Sleep(tc.run - time.Duration(tc.trickle)*time.Second)
				if err := h.stop(); err != nil {
					t.Fatalf("Run: %v", err)
				}
				calls := h.s.snapshot()
				var worst time.Duration
				for _, c := range calls {
					for _, s := range c.seqs {
						if at, ok := appended[s]; ok {
							worst = max(worst, c.at.Sub(at))
						}
					}
				}
				acked, _, ready, inflight := h.q.counts()
				t.Logf("%d POSTs, %d rows acked, worst trickle wait %v", len(calls), acked, worst)
				if acked != tc.backlog+tc.trickle || ready != 0 || inflight != 0 {
					t.Errorf("acked %d ready %d in flight %d, want %d acked", acked, ready, inflight, tc.backlog+tc.trickle)
				}
				if worst > time.Second+50*time.Millisecond {
					t.Errorf("a trickle row waited %v, want <= linger+50ms", worst)
				}
				for s, n := range h.q.acked {
					if n != 1 {
						t.Errorf("row %d acked %d times", s, n)
					}
				}
				checkLimits(t, callsAsPosts(calls), WithDefaults(config.Limits{}), 0)
			})
		})
	}
}

// A 429 pauses the dataset until Retry-After; the same rows go again.
func TestDispatcherThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(Options{})
		first := true
		h.s.answer = func(string, []uint64) error {
			if first {
				first = false
				return classErr{Outcome{Class: Throttled, RetryAfter: 30 * time.Second, Message: "429"}}
			}
			return nil
		}
		h.q.append(keyA, 100)
		time.Sleep(2 * time.Minute)
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
		calls := h.s.snapshot()
		if len(calls) != 2 {
			t.Fatalf("%d POSTs, want 2", len(calls))
		}
		gap := calls[1].at.Sub(calls[0].at)
		t.Logf("resent after %v", gap)
		if gap < 30*time.Second+200*time.Millisecond || calls[1].seqs[0] != calls[0].seqs[0] || len(calls[1].seqs) != 100 {
			t.Errorf("resent after %v with rows %d.., want >= 30.2s with the same 100 rows", gap, calls[1].seqs[0])
		}
		if st := h.d.Stats(); st.Throttled != 1 || st.OK != 1 {
			t.Errorf("stats %+v", st)
		}
	})
}

// Retryable errors back off exponentially (1s, 2s, 4s ... capped at 60s) and never drop rows.
func TestDispatcherRetryBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(Options{})
		h.s.latency = 0
		fails := 9
		h.s.answer = func(string, []uint64) error {
			if fails > 0 {
				fails--
				return errors.New("503")
			}
			return nil
		}
		h.q.append(keyA, 10)
		time.Sleep(10 * time.Minute)
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
		calls := h.s.snapshot()
		var gaps []time.Duration
		for i := 1; i < len(calls); i++ {
			gaps = append(gaps, calls[i].at.Sub(calls[i-1].at))
		}
		want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
		for i := range want {
			want[i] *= time.Second
		}
		acked, _, _, _ := h.q.counts()
		t.Logf("gaps %v", gaps)
		if fmt.Sprint(gaps) != fmt.Sprint(want) || acked != 10 {
			t.Errorf("gaps %v, want %v; %d rows acked, want 10", gaps, want, acked)
		}
	})
}

// A rejected POST is bisected through the limiter; single bad rows are dead-lettered with the
// service's message and every good row is delivered.
func TestDispatcherBisect(t *testing.T) {
	tests := []struct {
		rows int
		bad  []uint64
	}{
		{rows: 16, bad: []uint64{5, 11}},
		{rows: 1000, bad: []uint64{1, 500, 1000}},
		{rows: 1, bad: []uint64{1}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.rows, tc.bad), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := start(Options{Dataset: config.Dataset{Limits: config.Limits{PostsPerMinute: 6}}})
				h.s.answer = func(_ string, seqs []uint64) error {
					for _, s := range seqs {
						for _, b := range tc.bad {
							if s == b {
								return classErr{Outcome{Class: Rejected, Message: fmt.Sprintf("row %d: bad value", s)}}
							}
						}
					}
					return nil
				}
				h.q.append(keyA, tc.rows)
				time.Sleep(time.Hour)
				if err := h.stop(); err != nil {
					t.Fatal(err)
				}
				acked, rejected, ready, _ := h.q.counts()
				calls := h.s.snapshot()
				t.Logf("%d POSTs: %d acked, %d dead-lettered %v", len(calls), acked, rejected, h.q.rejected)
				if acked != tc.rows-len(tc.bad) || rejected != len(tc.bad) || ready != 0 {
					t.Errorf("acked %d, rejected %d, ready %d; want %d, %d, 0", acked, rejected, ready, tc.rows-len(tc.bad), len(tc.bad))
				}
				for _, b := range tc.bad {
					if !strings.Contains(h.q.rejected[b], fmt.Sprintf("row %d", b)) {
						t.Errorf("row %d dead-lettered with %q, want the service's message", b, h.q.rejected[b])
					}
				}
				if m := maxInWindow(callsAsPosts(calls), time.Minute, one); m > 6 {
					t.Errorf("bisect made %d POSTs in a minute, limit 6", m)
				}
			})
		})
	}
}

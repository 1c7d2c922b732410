package batcher

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// rangeSplit assigns partitions 0..total-1 to n members in contiguous runs (Kafka's range
// assignor), or round robin.
func rangeSplit(total, n int, roundRobin bool) [][]int {
	out := make([][]int, n)
	if roundRobin {
		for p := range total {
			out[p%n] = append(out[p%n], p)
		}
		return out
	}
	p := 0
	for i := range n {
		k := total / n
		if i < total%n {
			k++
		}
		for range k {
			out[i] = append(out[i], p)
			p++
		}
	}
	return out
}

// The shares of the members of a group add up to 1, and rounding each member's limit down keeps
// the sum at or under every limit, for any number of members; two sources combine.
func TestShareArithmetic(t *testing.T) {
	l := WithDefaults(config.Limits{})
	for _, sources := range []int{1, 2} {
		for n := 1; n <= 12; n++ {
			for _, rr := range []bool{false, true} {
				sum, posts, rows, hourPosts := 0.0, 0, 0, 0
				split := rangeSplit(12, n, rr)
				for i := range n {
					s := NewScheduler(t0, SchedulerConfig{Limits: l, Tables: []string{"a"}, ShareSources: sources})
					for k := range sources {
						s.SetAssignment(t0, ShareSource{Index: k, Count: sources}, Assignment{Generation: 1, Partitions: split[i], Total: 12})
					}
					e := s.effAt(t0.Add(2 * time.Hour)) // ramps done
					sum += s.hold.size()
					posts += e.postsPerMinute
					rows += e.rowsPerHour
					hourPosts += e.postsPerHourLarge
				}
				if math.Abs(sum-1) > 1e-9 || posts > l.PostsPerMinute || rows > l.RowsPerHour || hourPosts > l.PostsPerHourLarge {
					t.Errorf("sources %d, %d members (rr %v): shares sum %.6f, limits sum %d/min %d rows/h %d/h",
						sources, n, rr, sum, posts, rows, hourPosts)
				}
			}
		}
	}
}

// Local estimate of a table's rows: own rows ÷ share, rounded up.
func TestEstimateRows(t *testing.T) {
	tests := []struct {
		own   int64
		share float64
		want  int64
	}{
		{0, 0, 0}, {10, 1, 10}, {10, 0.5, 20}, {10, 1.0 / 3, 30}, {7, 1.0 / 12, 84}, {1, 0.3, 4},
		{5, 0, math.MaxInt64},
	}
	for _, tc := range tests {
		if got := estimateRows(tc.own, tc.share); got != tc.want {
			t.Errorf("estimateRows(%d, %v) = %d, want %d", tc.own, tc.share, got, tc.want)
		}
	}
}

// service is a fake Power BI dataset shared by several instances: it counts POSTs in flight
// and POSTs per rolling minute over all of them (every POST it sees is accepted).
type service struct {
	mu          sync.Mutex
	latency     time.Duration
	pending     int
	peakPending int
	posts       []time.Time
	rows        int
}

// poster is a shared service of the share tests (service, hourService): it takes one POST.
type poster interface {
	post(ctx context.Context, rows int) error
}

// serviceDest is one instance's Destination onto the shared service, with its own limits.
type serviceDest struct {
	svc    poster
	limits Limits
}

func (d serviceDest) Limits() Limits { return d.limits }

func (serviceDest) Classify(err error) Outcome { return testClassify(err) }

func (d serviceDest) Send(ctx context.Context, _ spool.QueueKey, rows []spool.Row) error {
	return d.svc.post(ctx, len(rows))
}

func (s *service) post(ctx context.Context, rows int) error {
	s.mu.Lock()
	s.pending++
	s.peakPending = max(s.peakPending, s.pending)
	s.posts = append(s.posts, time.Now())
	s.rows += rows
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.pending--
		s.mu.Unlock()
	}()
	select {
	case <-time.After(s.latency):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// peakPerMinute returns the most POSTs in any rolling minute from `from` on.
func (s *service) peakPerMinute(from time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := append([]time.Time(nil), s.posts...)
	sort.Slice(ps, func(i, j int) bool { return ps[i].Before(ps[j]) })
	peak, lo := 0, 0
	for hi := range ps {
		for ps[hi].Sub(ps[lo]) >= time.Minute {
			lo++
		}
		if !ps[hi].Before(from) {
			peak = max(peak, hi-lo+1)
		}
	}
	return peak
}

func (s *service) postsBetween(a, b time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.posts {
		if !p.Before(a) && p.Before(b) {
			n++
		}
	}
	return n
}

// instance is one agent: its own spool (memQueue) and dispatcher, sharing the service.
type instance struct {
	q      *memQueue
	d      *Dispatcher
	cancel context.CancelFunc
	done   chan error
}

func startInstance(svc *service, l config.Limits) *instance {
	in := &instance{q: newMemQueue(), done: make(chan error, 1)}
	in.q.append(keyA, 40_000)
	in.d = NewDispatcher(Options{Dataset: config.Dataset{Name: "ds", Tables: []config.Table{{Name: "a"}}},
		Queue: in.q, Destination: serviceDest{svc: svc, limits: Limits{Rates: l, Retention: "basicFIFO"}}, ShareSources: 1})
	var ctx context.Context
	ctx, in.cancel = context.WithCancel(context.Background())
	go func() { in.done <- in.d.Run(ctx) }()
	return in
}

// N instances in one group on a 12-partition topic (N = 1…12, pending limit 5): on a virtual
// clock, POSTs in flight over all instances never exceed 5, POSTs per rolling minute never exceed
// the limit — including across a rebalance where one member is killed and one joins — and the
// POST rate reaches at least 90% of the limit once the shares have settled.
func TestSharesAddUpAcrossInstances(t *testing.T) {
	l := config.Limits{RowsPerPost: 10, PostsPerMinute: 120, RowsPerHour: 1_000_000, PendingPosts: 5}
	for n := 1; n <= 12; n++ {
		t.Run(fmt.Sprint(n, " instances"), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				svc := &service{latency: 300 * time.Millisecond}
				src := ShareSource{Index: 0, Count: 1}
				var ins []*instance
				assign := func(gen int32) {
					split := rangeSplit(12, len(ins), false)
					for _, in := range ins {
						in.d.Revoke(src)
					}
					time.Sleep(50 * time.Millisecond) // the rebalance
					for i, in := range ins {
						in.d.SetAssignment(src, Assignment{Generation: gen, Partitions: split[i], Total: 12})
					}
				}
				start := time.Now()
				for range n {
					ins = append(ins, startInstance(svc, l))
				}
				assign(1)
				time.Sleep(4 * time.Minute)
				settled := time.Now()
				time.Sleep(2 * time.Minute)
				steady := svc.postsBetween(settled, time.Now())
				time.Sleep(5 * time.Second) // the kill falls anywhere in a member's minute

				// Kill one (it stops at once, its POSTs in flight finish), then add one.
				ins[0].cancel()
				<-ins[0].done
				ins = ins[1:]
				time.Sleep(3 * time.Second) // session timeout
				if len(ins) > 0 {
					assign(2)
				}
				time.Sleep(time.Minute)
				ins = append(ins, startInstance(svc, l))
				assign(3) // the joiner is fresh to the group; the others keep what they held
				time.Sleep(3 * time.Minute)
				for _, in := range ins {
					in.cancel()
					if err := <-in.done; err != nil {
						t.Fatal(err)
					}
				}
				peak := svc.peakPerMinute(time.Time{})
				// Over the whole run, with the members' minute waits after the kill and the join.
				overall := float64(svc.postsBetween(time.Time{}, time.Now())) / time.Since(start).Minutes() / float64(l.PostsPerMinute)
				t.Logf("%d instances: %.0f%% of the limit over the whole run (%v), rebalances included", n, overall*100, time.Since(start).Round(time.Second))
				rate := float64(steady) / 2 / float64(l.PostsPerMinute)
				t.Logf("%d instances: peak pending %d, peak %d POSTs/min, settled rate %.0f%% of %d/min",
					n, svc.peakPending, peak, rate*100, l.PostsPerMinute)
				if svc.peakPending > l.PendingPosts || peak > l.PostsPerMinute {
					t.Errorf("limits exceeded: %d pending (limit %d), %d POSTs/min (limit %d)",
						svc.peakPending, l.PendingPosts, peak, l.PostsPerMinute)
				}
				if n > 1 && overall < 0.9 { // alone, the killed member leaves nobody for a minute
					t.Errorf("%.0f%% of the limit over the run, want >= 90%%", overall*100)
				}
				if rate < 0.9 {
					t.Errorf("settled rate %.0f%% of the limit, want >= 90%%", rate*100)
				}
			})
		})
	}
}

// Slots: at every instant of a sweep period each pending slot is held by at most one of the
// members, and a member with 1/12 of share space holds one slot 5/12 of the time.
func TestSlotSweep(t *testing.T) {
	const p = 5
	for n := 1; n <= 12; n++ {
		split := rangeSplit(12, n, true)
		hs := make([]*holding, n)
		for i := range hs {
			hs[i] = newHolding(1, 0, 0)
			hs[i].assign(t0, ShareSource{0, 1}, Assignment{Generation: 1, Partitions: split[i], Total: 12}, nil)
		}
		held := make([]time.Duration, n)
		start := t0.Add(time.Minute)
		const step = 100 * time.Millisecond
		for at := start; at.Before(start.Add(DefaultSlotPeriod)); at = at.Add(step) {
			for j := range p {
				holders := 0
				for i, h := range hs {
					if h.usable(h.settledCells(at), at, j, p) {
						holders++
						held[i] += step
					}
				}
				if holders > 1 {
					t.Fatalf("%d members: slot %d held by %d members at %v", n, j, holders, at.Sub(start))
				}
			}
		}
		for i := range hs {
			want := float64(len(split[i])) / 12 * p * float64(DefaultSlotPeriod)
			// Usable excludes the guard time before each hand-over.
			if got := float64(held[i]); got > want+float64(step) || got < want*0.5 {
				t.Errorf("%d members: member %d (%d partitions) held slots %v per period, want about %v",
					n, i, len(split[i]), held[i], time.Duration(want))
			}
		}
	}
}

// The large tier is decided from the service's count (read-back) before the first POST; without
// it, from this instance's rows ÷ its share, rounded up.
func TestLargeTierFromServiceCount(t *testing.T) {
	tests := []struct {
		name      string
		set       func(s *Scheduler, now time.Time)
		wantLarge bool
		wantFirst time.Duration // first POST at (after the await)
	}{
		{name: "table already holds 250,000 rows", set: func(s *Scheduler, now time.Time) {
			s.SetServiceRows(now, "a", 250_000, true)
		}, wantLarge: true},
		{name: "service count below the switch", set: func(s *Scheduler, now time.Time) {
			s.SetServiceRows(now, "a", 100_000, true)
		}},
		{name: "refused: own 125,000 rows at share 0.5 estimate 250,000", set: func(s *Scheduler, now time.Time) {
			s.SetShare(now, 0.5)
			s.SetDelivered(now, "a", 125_000)
			s.SetServiceRows(now, "a", 0, false)
		}, wantLarge: true},
		{name: "refused: own 124,999 rows at share 0.5", set: func(s *Scheduler, now time.Time) {
			s.SetShare(now, 0.5)
			s.SetDelivered(now, "a", 124_999)
			s.SetServiceRows(now, "a", 0, false)
		}},
		{name: "no answer: the first POST waits for the await time", set: func(*Scheduler, time.Time) {},
			wantFirst: 30 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// 1,000-row POSTs: the hour allows 1,000 POSTs, the large tier 120.
			m := newSim(SchedulerConfig{Tables: []string{"a"}, AwaitServiceRows: 30 * time.Second, Limits: config.Limits{RowsPerPost: 1000}})
			m.latency = 100 * time.Millisecond
			m.q["a"].push(3_000_000, t0)
			tc.set(m.s, t0)
			if got := m.s.Usage(t0).LargeTier; got != tc.wantLarge {
				t.Errorf("large tier before the first POST: %v, want %v", got, tc.wantLarge)
			}
			m.run(t0.Add(90 * time.Minute))
			if len(m.posts) == 0 {
				t.Fatal("nothing posted")
			}
			first := m.posts[0].at.Sub(t0)
			hourPosts := maxInWindowFrom(m.posts, 0, time.Hour, one)
			t.Logf("first POST at %v, large tier %v, worst hour %d POSTs", first, m.s.Usage(m.now).LargeTier, hourPosts)
			if first != tc.wantFirst {
				t.Errorf("first POST at %v, want %v", first, tc.wantFirst)
			}
			if tc.wantLarge && hourPosts > DefaultPostsPerHourLarge {
				t.Errorf("%d POSTs in an hour, want <= %d from the first POST (large tier)", hourPosts, DefaultPostsPerHourLarge)
			}
		})
	}
}

// A retention-None table the service says is full (5,000,000 rows) is held, not posted (its rows
// would be refused and dead-lettered); an estimate alone never holds it.
func TestFullTableHeld(t *testing.T) {
	for _, tc := range []struct {
		name     string
		svc      int64
		known    bool
		wantPost bool
	}{
		{"full at the service", MaxTableRows - 50, true, false},
		{"room for the POST", MaxTableRows - 100, true, true},
		{"unknown count", 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewScheduler(t0, SchedulerConfig{Tables: []string{"a"}, Limits: config.Limits{RowsPerPost: 100}})
			s.SetServiceRows(t0, "a", tc.svc, tc.known)
			s.SetBacklog("a", 1000, t0)
			d := s.Next(t0.Add(time.Second))
			if (d.Rows > 0) != tc.wantPost {
				t.Errorf("decision %+v, want a POST: %v (full tables %v)", d, tc.wantPost, s.Usage(t0).FullTables)
			}
			if full := len(s.Usage(t0).FullTables) > 0; full == tc.wantPost {
				t.Errorf("Usage.FullTables %v", s.Usage(t0).FullTables)
			}
		})
	}
}

// After a restart on the same spool, the partitions the previous process held in the previous
// generation need not wait (their POSTs are restored from the spool); partitions it did not
// hold, or a later generation, wait a minute.
func TestShareSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	src := ShareSource{Index: 0, Count: 1}
	open := func() (*spool.Spool, *Dispatcher) {
		sp, err := spool.Open(path, spool.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d := NewDispatcher(Options{Dataset: config.Dataset{Name: "ds", Tables: []config.Table{{Name: "a"}}},
			ShareSources: 1, ShareStore: sp})
		return sp, d
	}
	sp, d := open()
	d.SetAssignment(src, Assignment{Generation: 1, Partitions: []int{0, 1, 2}, Total: 6})
	if u := d.Usage(); u.Settling || u.Share != 0.5 {
		t.Fatalf("before the restart: %+v", u)
	}
	_ = sp.Close()

	for _, tc := range []struct {
		name     string
		a        Assignment
		settling bool
	}{
		{"next generation, same partitions", Assignment{Generation: 2, Partitions: []int{0, 1, 2}, Total: 6}, false},
		{"next generation, one new partition", Assignment{Generation: 2, Partitions: []int{0, 1, 2, 3}, Total: 6}, true},
		{"a later generation", Assignment{Generation: 3, Partitions: []int{0, 1, 2}, Total: 6}, true},
	} {
		sp, d := open()
		d.SetAssignment(src, tc.a)
		u := d.Usage()
		_ = sp.Close()
		if u.Settling != tc.settling {
			t.Errorf("%s: settling %v, want %v (%+v)", tc.name, u.Settling, tc.settling, u)
		}
		// Put back generation 1 for the next case.
		sp, d = open()
		d.SetAssignment(src, Assignment{Generation: 1, Partitions: []int{0, 1, 2}, Total: 6})
		_ = sp.Close()
	}
}

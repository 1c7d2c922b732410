package batcher

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// hourService is a fake Power BI dataset shared by several instances that checks, at every POST
// it receives, each per-dataset window over all of them: rows and POSTs per rolling hour,
// POSTs per rolling minute, POSTs in flight. Every POST is accepted (an excess is counted, not
// refused, so a run shows how far a window went).
type hourService struct {
	mu      sync.Mutex
	lim     config.Limits
	latency func() time.Duration
	pending int
	log     []stamp
	head    int // first stamp inside the hour
	peak    struct{ rowsHour, postsHour, postsMinute, pending int }
}

type stamp struct {
	at   time.Time
	rows int
}

func (s *hourService) post(ctx context.Context, rows int) error {
	s.mu.Lock()
	now := time.Now()
	s.pending++
	s.log = append(s.log, stamp{now, rows})
	for now.Sub(s.log[s.head].at) >= time.Hour {
		s.head++
	}
	hourRows, minutePosts := 0, 0
	for _, p := range s.log[s.head:] {
		hourRows += p.rows
		if now.Sub(p.at) < time.Minute {
			minutePosts++
		}
	}
	s.peak.rowsHour = max(s.peak.rowsHour, hourRows)
	s.peak.postsHour = max(s.peak.postsHour, len(s.log)-s.head)
	s.peak.postsMinute = max(s.peak.postsMinute, minutePosts)
	s.peak.pending = max(s.peak.pending, s.pending)
	lat := s.latency()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.pending--
		s.mu.Unlock()
	}()
	select {
	case <-time.After(lat):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rowsBetween returns the rows stamped in [a, b).
func (s *hourService) rowsBetween(a, b time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.log {
		if !p.at.Before(a) && p.at.Before(b) {
			n += p.rows
		}
	}
	return n
}

// member is one instance of the group in a run.
type member struct {
	sp     *spool.Spool // restarts only: its spool (holding, post log)
	path   string
	q      *memQueue
	d      *Dispatcher
	cancel context.CancelFunc
	done   chan error
	parts  []int
}

// hourScenario is a limit that binds, with the POST size that makes it bind.
type hourScenario struct {
	name      string
	retention string
	limits    config.Limits
	large     bool // the table is past the large-table switch from the start (read-back)
	binding   func(l config.Limits) float64
}

// TestHourlyAcrossRebalances: N = 1…12 instances in one group on a 12-partition topic, with a
// permanent backlog, through several hours of virtual time with random kills, joins and
// rebalances: the dataset-wide rolling-hour rows, rolling-hour POSTs (past the large-table
// switch), rolling-minute POSTs and POSTs in flight never exceed the limits at any instant, and
// the group keeps using most of the binding hourly limit.
func TestHourlyAcrossRebalances(t *testing.T) {
	scenarios := hourScenarios()
	// Every N for the first scenario with a sticky assignor; a few N for the rest (the test runs
	// under -race in CI).
	const hours = 3
	for i, sc := range scenarios {
		for _, sticky := range []bool{true, false} {
			ns := []int{3, 12}
			switch {
			case i == 0 && sticky:
				ns = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
			case sticky:
				ns = []int{1, 4, 8, 12}
			}
			for _, n := range ns {
				name := fmt.Sprintf("%s/%d instances/sticky %v", sc.name, n, sticky)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					synctest.Test(t, func(t *testing.T) { hourlyRun(t, sc, n, sticky, hours, false) })
				})
			}
		}
	}
}

// TestHourlyAcrossRestarts: as TestHourlyAcrossRebalances, with restarts too: an instance killed
// and started again on its spool, which owns its partitions again in the next generation and
// rebuilds their buckets from its post log (hourly.go, restore). No limit is exceeded in any
// rolling hour or minute across the restarts, and a restarted instance keeps using its part of
// the hour (it does not start empty).
func TestHourlyAcrossRestarts(t *testing.T) {
	scenarios := hourScenarios()
	for _, sc := range scenarios {
		for _, n := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/%d instances", sc.name, n), func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) { hourlyRun(t, sc, n, true, 3, true) })
			})
		}
	}
}

// hourScenarios are the limits that bind in the hourly runs.
func hourScenarios() []hourScenario {
	return []hourScenario{
		{name: "rows per hour", retention: "basicFIFO",
			limits:  config.Limits{RowsPerPost: 100, PostsPerMinute: 60, RowsPerHour: 12_000, PendingPosts: 5},
			binding: func(l config.Limits) float64 { return float64(l.RowsPerHour) }},
		{name: "POSTs per hour past the switch", retention: "None", large: true,
			limits:  config.Limits{RowsPerPost: 100, PostsPerMinute: 60, RowsPerHour: 1_000_000, PendingPosts: 5, PostsPerHourLarge: 120},
			binding: func(l config.Limits) float64 { return float64(l.PostsPerHourLarge * l.RowsPerPost) }},
		{name: "rows per hour past the switch", retention: "None", large: true,
			limits:  config.Limits{RowsPerPost: 500, PostsPerMinute: 60, RowsPerHour: 24_000, PendingPosts: 5, PostsPerHourLarge: 120},
			binding: func(l config.Limits) float64 { return float64(l.RowsPerHour) }},
	}
}

// hourlyRun runs n instances for hours with random events: kills, joins, rebalances, and with
// restarts also restarts on the same spool.
func hourlyRun(t *testing.T, sc hourScenario, n int, sticky bool, hours int, restarts bool) {
	rng := rand.New(rand.NewPCG(uint64(n), map[bool]uint64{true: 1, false: 2}[sticky]))
	l := WithDefaults(sc.limits)
	lat := rand.New(rand.NewPCG(uint64(n), 3)) // called under the service's lock
	svc := &hourService{lim: l, latency: func() time.Duration {
		return time.Duration(100+lat.IntN(900)) * time.Millisecond
	}}
	src := ShareSource{Index: 0, Count: 1}
	var members []*member
	start := time.Now()
	dir := t.TempDir()
	spools := 0
	startMember := func(m *member) *member {
		if m == nil {
			m = &member{}
			if restarts {
				spools++
				m.path = filepath.Join(dir, fmt.Sprintf("m%d.db", spools))
			}
		}
		m.q, m.done = newMemQueue(), make(chan error, 1)
		m.q.append(keyA, 5_000)
		o := Options{Dataset: config.Dataset{Name: "ds", Tables: []config.Table{{Name: "a"}}},
			Queue: m.q, Destination: serviceDest{svc: svc, limits: Limits{Rates: l, Retention: sc.retention}}, ShareSources: 1}
		if m.path != "" {
			sp, err := spool.Open(m.path, spool.Options{})
			if err != nil {
				t.Fatal(err)
			}
			m.sp, o.ShareStore, o.PostLog = sp, sp, sp
		}
		m.d = NewDispatcher(o)
		if sc.large {
			m.d.SetServiceRows("a", 1_000_000, true)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m.cancel = cancel
		go func() { m.done <- m.d.Run(ctx) }()
		go func() { // a permanent backlog
			for ctx.Err() == nil {
				if _, _, ready, _ := m.q.counts(); ready < 2_000 {
					m.q.append(keyA, 2_000)
				}
				select {
				case <-time.After(30 * time.Second):
				case <-ctx.Done():
				}
			}
		}()
		return m
	}
	gen := int32(0)
	assign := func() {
		gen++
		for _, m := range members {
			m.d.Revoke(src)
		}
		time.Sleep(50 * time.Millisecond) // the rebalance
		for _, m := range members {
			m.d.SetAssignment(src, Assignment{Generation: gen, Partitions: slices.Sorted(slices.Values(m.parts)), Total: 12})
		}
	}
	// split hands out the partitions nobody holds: sticky keeps what members hold and balances
	// by moving as few as possible (cooperative-sticky); otherwise a random split (the worst case
	// for hand-overs).
	split := func() {
		if !sticky {
			perm := rng.Perm(12)
			for _, m := range members {
				m.parts = nil
			}
			for i, p := range perm {
				members[i%len(members)].parts = append(members[i%len(members)].parts, p)
			}
			return
		}
		held := map[int]bool{}
		for _, m := range members {
			for _, p := range m.parts {
				held[p] = true
			}
		}
		for p := range 12 {
			if !held[p] {
				least := slices.MinFunc(members, func(a, b *member) int { return len(a.parts) - len(b.parts) })
				least.parts = append(least.parts, p)
			}
		}
		for {
			most := slices.MaxFunc(members, func(a, b *member) int { return len(a.parts) - len(b.parts) })
			least := slices.MinFunc(members, func(a, b *member) int { return len(a.parts) - len(b.parts) })
			if len(most.parts)-len(least.parts) <= 1 {
				return
			}
			k := rng.IntN(len(most.parts))
			least.parts = append(least.parts, most.parts[k])
			most.parts = slices.Delete(most.parts, k, k+1)
		}
	}
	stop := func(m *member) {
		m.cancel()
		if err := <-m.done; err != nil {
			t.Fatal(err)
		}
		if m.sp != nil {
			if err := m.sp.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range n {
		members = append(members, startMember(nil))
	}
	split()
	assign()
	kills, joins, rebalances, restarted := 0, 0, 0, 0
	events := 3
	if restarts {
		events = 4
	}
	end := start.Add(time.Duration(hours) * time.Hour)
	for {
		d := time.Duration(5+rng.IntN(20)) * time.Minute
		if time.Now().Add(d).After(end) {
			time.Sleep(end.Sub(time.Now()))
			break
		}
		time.Sleep(d + time.Duration(rng.IntN(60_000))*time.Millisecond)
		switch ev := rng.IntN(events); {
		case ev == 0 && len(members) > 1: // kill -9: gone at once; its partitions move after the session timeout
			k := rng.IntN(len(members))
			stop(members[k])
			members = slices.Delete(members, k, k+1)
			time.Sleep(3 * time.Second)
			kills++
		case ev == 1 && len(members) < 12:
			members = append(members, startMember(nil))
			joins++
		case ev == 3: // a restart on the same spool: it owns its partitions again in the next generation
			k := rng.IntN(len(members))
			stop(members[k])
			time.Sleep(3 * time.Second)
			startMember(members[k])
			restarted++
		default:
			rebalances++
		}
		split()
		assign()
	}
	for _, m := range members {
		stop(m)
	}
	ceiling := sc.binding(l)
	// Utilisation: every hour after the first (the first starts with full buckets).
	used := float64(svc.rowsBetween(start.Add(time.Hour), end)) / float64(hours-1) / ceiling
	first := float64(svc.rowsBetween(start, start.Add(time.Hour))) / ceiling
	p := svc.peak
	t.Logf("%d instances (sticky %v): %d kills, %d joins, %d rebalances, %d restarts; peaks: %d rows/h (limit %d), %d POSTs/h, %d POSTs/min (limit %d), %d pending (limit %d); "+
		"first hour %.1f%%, hours 2-%d %.1f%% of the binding limit", n, sticky, kills, joins, rebalances, restarted, p.rowsHour, l.RowsPerHour,
		p.postsHour, p.postsMinute, l.PostsPerMinute, p.pending, l.PendingPosts, 100*first, hours, 100*used)
	if p.rowsHour > l.RowsPerHour || p.postsMinute > l.PostsPerMinute || p.pending > l.PendingPosts ||
		(sc.large && p.postsHour > l.PostsPerHourLarge) {
		t.Errorf("a limit exceeded: %d rows/h (limit %d), %d POSTs/h (large tier %v, limit %d), %d POSTs/min (limit %d), %d pending (limit %d)",
			p.rowsHour, l.RowsPerHour, p.postsHour, sc.large, l.PostsPerHourLarge, p.postsMinute, l.PostsPerMinute, p.pending, l.PendingPosts)
	}
	// The buckets cost b/B of each cell's hour (hourly.go: 3.3% for rows per hour here, 10% in
	// the large tier); a cell that changes hands loses what its bucket held and a minute of
	// refill. A sticky assignor moves few cells; a random split moves nearly all at every event.
	floor := 0.8
	switch {
	case !sticky:
		floor = 0.5
	case restarts:
		// Restarts add kills whose partitions move (their buckets start empty): measured 82-96%
		// over random event sequences, so the floor leaves room for an unlucky sequence.
		floor = 0.75
	}
	if used < floor {
		t.Errorf("hours 2-%d used %.1f%% of the binding limit, want >= %.0f%%", hours, 100*used, 100*floor)
	}
}

// The cells' buckets: a first generation starts full, a cell taken over starts empty and fills
// from a minute later at (B − b) per hour, a cell kept into the next generation keeps its
// tokens, POSTs in flight hold their tokens until answered, and a refused POST gives its rows back.
func TestHourlyBuckets(t *testing.T) {
	l := config.Limits{RowsPerPost: 100, RowsPerHour: 12_000, PostsPerMinute: 60, PendingPosts: 5}
	s := NewScheduler(t0, SchedulerConfig{Limits: l, Retention: "basicFIFO", Tables: []string{"a"}, ShareSources: 1})
	src := ShareSource{Index: 0, Count: 1}
	// 12 partitions: B = 1,000 rows per hour per cell, b = 2 minutes' worth = 33.3, r = 966.7/h.
	p := s.rowsParams(1.0 / 12)
	if want := (bucketParams{cap: 1000.0 / 30, rate: (1000 - 1000.0/30) / 3600}); math.Abs(p.cap-want.cap) > 1e-9 || math.Abs(p.rate-want.rate) > 1e-12 {
		t.Fatalf("rows bucket %+v, want %+v", p, want)
	}
	s.SetAssignment(t0, src, Assignment{Generation: 1, Partitions: []int{0, 1, 2}, Total: 12})
	if rows, _, _ := s.tokens(t0); math.Abs(rows-100) > 1e-6 {
		t.Fatalf("first generation: %.3f rows, want 100 (3 full buckets)", rows)
	}
	tk := s.Sent(t0, "a", 100)
	if rows, _, _ := s.tokens(t0.Add(time.Hour)); rows > 1e-9 {
		t.Errorf("an hour with a POST in flight: %.3f rows, want 0 (in flight counts until answered)", rows)
	}
	s.Result(t0.Add(time.Hour), tk, Outcome{Class: Throttled, RetryAfter: time.Second})
	if rows, _, _ := s.tokens(t0.Add(time.Hour)); math.Abs(rows-100) > 1e-6 {
		t.Errorf("after a 429: %.3f rows, want the 100 back", rows)
	}
	at := t0.Add(time.Hour)
	tk = s.Sent(at, "a", 100)
	s.Result(at, tk, Outcome{Class: OK})
	// Next generation: 0 and 1 kept (empty, refilling), 5 taken over (empty until a minute later).
	s.Revoke(at, src)
	s.SetAssignment(at, src, Assignment{Generation: 2, Partitions: []int{0, 1, 5}, Total: 12})
	for _, tc := range []struct {
		after time.Duration
		want  float64
	}{
		{0, 0},
		{time.Minute, 2 * p.rate * 60},
		{2 * time.Minute, 2*p.rate*120 + p.rate*60},
		{time.Hour, 3 * p.cap},
	} {
		if rows, _, _ := s.tokens(at.Add(tc.after)); math.Abs(rows-tc.want) > 1e-6 {
			t.Errorf("%v after the hand-over: %.3f rows, want %.3f", tc.after, rows, tc.want)
		}
	}
	// Without a Kafka source: no buckets, the rolling windows alone.
	f := NewScheduler(t0, SchedulerConfig{Limits: l, Tables: []string{"a"}})
	if f.hold.metered() || f.tokenWait(t0, 100) != 0 {
		t.Error("a holding without Kafka sources is metered")
	}
}

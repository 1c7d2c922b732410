package batcher

import (
	"math"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// A restarted process rebuilds the hourly buckets of the cells it keeps (the next generation,
// same partitions) from its spool's post log: after an idle hour they are full at once; after
// POSTs, they hold what a bucket of all kept cells together holds once every logged POST is
// drawn from it, POSTs of the last minute still count as in flight; cells it did not keep, a
// generation gap or an absent holding start empty and fill a minute later, as a hand-over does.
func TestRestoreKeptBuckets(t *testing.T) {
	l := config.Limits{RowsPerPost: 100, RowsPerHour: 12_000, PostsPerMinute: 60, PendingPosts: 5}
	// 12 partitions: B = 1,000 rows per hour per cell, b = 33.3, r = 966.7/h.
	b := 1000.0 / 30
	r := (1000 - b) / 3600
	type sample struct {
		after time.Duration // from the restart
		want  float64       // rows in the held cells' buckets
	}
	tests := []struct {
		name    string
		prevGen int32         // the previous process's generation (its acquisition: see acquired)
		prev    []int         // partitions it held
		acq     time.Duration // how long before the restart the previous process acquired them (0: first generation)
		posts   []spool.PostRecord
		noHold  bool // no holding persisted
		gen     int32
		parts   []int
		samples []sample
	}{
		{name: "idle hour: kept cells full at once", prevGen: 1, prev: []int{0, 1, 2}, gen: 2, parts: []int{0, 1, 2},
			samples: []sample{{0, 3 * b}, {time.Hour, 3 * b}}},
		{name: "POSTs of the last hour drawn, in flight for a minute", prevGen: 1, prev: []int{0, 1, 2}, gen: 2, parts: []int{0, 1, 2},
			// 60 rows 30 s ago from a full bucket of 100: 40 left, and the 60 count as in flight
			// until a minute after their send, refill running (capped at 100 − 60 meanwhile).
			posts:   []spool.PostRecord{{At: t0.Add(-30 * time.Second), Rows: 60}},
			samples: []sample{{0, 40}, {10 * time.Second, 40}, {30 * time.Second, 40}, {time.Minute, 40 + 3*r*30}, {time.Hour, 3 * b}}},
		{name: "every POST of the hour attributed to the kept cells", prevGen: 1, prev: []int{0, 1, 2, 3, 4, 5}, gen: 2, parts: []int{0, 1, 2},
			// 1,000 rows 20 minutes ago (more than the kept cells' 100): a debt of 900 the kept
			// cells' refill pays back from a minute later (in flight until then): 18.3 left.
			posts:   []spool.PostRecord{{At: t0.Add(-20 * time.Minute), Rows: 1000}},
			samples: []sample{{0, -900 + 3*r*19*60}, {time.Minute, -900 + 3*r*20*60}, {2 * time.Minute, 3 * b}}},
		{name: "a cell acquired 10 minutes before: replay from its fill start", prevGen: 4, prev: []int{0, 1}, acq: 10 * time.Minute, gen: 5, parts: []int{0, 1},
			// Empty at −9 minutes (the 30 rows sent before count as in flight), full (66.7) by
			// −4 minutes; 200 rows then: −133.3, no refill while they are in flight (content +
			// in flight ≤ 66.7), then 3 minutes of refill: −36.7, a debt paid back after.
			posts:   []spool.PostRecord{{At: t0.Add(-9*time.Minute - 30*time.Second), Rows: 30}, {At: t0.Add(-4 * time.Minute), Rows: 200}},
			samples: []sample{{0, 2*b - 200 + 2*r*180}, {time.Minute, 2*b - 200 + 2*r*240}, {5 * time.Minute, 2 * b}}},
		{name: "a cell acquired 30 s before: nothing before its minute", prevGen: 4, prev: []int{0, 1}, acq: 30 * time.Second, gen: 5, parts: []int{0, 1},
			samples: []sample{{0, 0}, {30 * time.Second, 0}, {90 * time.Second, 2 * r * 60}}},
		{name: "keeps some, loses others", prevGen: 1, prev: []int{0, 1, 2}, gen: 2, parts: []int{1, 2, 7},
			// 1 and 2 restored (100 − 50 rows 5 minutes ago: full again); 7 taken over: empty,
			// filling a minute later.
			posts:   []spool.PostRecord{{At: t0.Add(-5 * time.Minute), Rows: 50}},
			samples: []sample{{0, 2 * b}, {2 * time.Minute, 2*b + r*60}}},
		{name: "generation gap: empty, a minute later", prevGen: 1, prev: []int{0, 1, 2}, gen: 3, parts: []int{0, 1, 2},
			samples: []sample{{0, 0}, {time.Minute, 0}, {2 * time.Minute, 3 * r * 60}}},
		{name: "no holding persisted: empty, a minute later", noHold: true, gen: 2, parts: []int{0, 1, 2},
			samples: []sample{{0, 0}, {2 * time.Minute, 3 * r * 60}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "spool.db")
				src := ShareSource{Index: 0, Count: 1}
				open := func() (*spool.Spool, *Dispatcher) {
					sp, err := spool.Open(path, spool.Options{})
					if err != nil {
						t.Fatal(err)
					}
					return sp, NewDispatcher(Options{Dataset: config.Dataset{Name: "ds", Tables: []config.Table{{Name: "a"}}},
						Destination:  serviceDest{limits: Limits{Rates: l, Retention: "basicFIFO"}},
						ShareSources: 1, ShareStore: sp, PostLog: sp})
				}
				restart := time.Now().Add(2 * time.Hour)
				shift := restart.Sub(t0) // the posts are relative to t0 = the restart
				if !tc.noHold {
					time.Sleep(restart.Sub(time.Now()) - tc.acq)
					sp, d := open()
					d.SetAssignment(src, Assignment{Generation: tc.prevGen, Partitions: tc.prev, Total: 12})
					for _, p := range tc.posts {
						if err := sp.RecordPost("ds", p.At.Add(shift), p.Rows); err != nil {
							t.Fatal(err)
						}
					}
					_ = sp.Close()
				}
				time.Sleep(restart.Sub(time.Now()))
				sp, d := open()
				defer sp.Close()
				d.SetAssignment(src, Assignment{Generation: tc.gen, Partitions: tc.parts, Total: 12})
				for _, s := range tc.samples {
					time.Sleep(restart.Add(s.after).Sub(time.Now()))
					d.mu.Lock()
					rows, _, _ := d.sched.tokens(time.Now())
					cs := d.sched.hold.budgets()
					var x float64
					for _, c := range cs {
						x += c.rows.x // the debt too
					}
					d.mu.Unlock()
					if s.want < 0 {
						rows = x
					}
					if math.Abs(rows-s.want) > 1e-6 {
						t.Errorf("%v after the restart: %.3f rows, want %.3f", s.after, rows, s.want)
					}
				}
			})
		})
	}
}

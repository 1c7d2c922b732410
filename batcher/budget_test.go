package batcher

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// Dispatchers of several datasets share one Budget: the rows in flight across all of them never
// cost more than the budget, and every row is still delivered.
func TestBudgetBoundsBytesInFlightAcrossDatasets(t *testing.T) {
	tests := []struct {
		name     string
		datasets int
		budget   int64 // in batches of 1,000 rows
	}{
		{name: "4 datasets, room for 3 POSTs", datasets: 4, budget: 3},
		{name: "3 datasets, room for 1 POST", datasets: 3, budget: 1},
		{name: "budget below one POST: one at a time", datasets: 2, budget: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const rows = 1000
				var peak int64
				b := NewBudget(max(1, tc.budget*batchCost(rows, rows*7))) // rows are "1".."99999": ≤ 5 bytes
				var hs []*harness
				for range tc.datasets {
					h := start(Options{Budget: b, Dataset: config.Dataset{Limits: config.Limits{RowsPerPost: rows, PostsPerMinute: 10_000, RowsPerHour: 100_000_000}}})
					h.s.latency = 100 * time.Millisecond
					h.q.append(keyA, 20_000)
					hs = append(hs, h)
				}
				deadline := time.Now().Add(10 * time.Minute)
				for time.Now().Before(deadline) {
					peak = max(peak, b.Used()) // sampled 10 times per POST
					done := true
					for _, h := range hs {
						if acked, _, _, _ := h.q.counts(); acked != 20_000 {
							done = false
						}
					}
					if done {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				for i, h := range hs {
					if err := h.stop(); err != nil {
						t.Fatalf("dataset %d: %v", i, err)
					}
					if acked, _, _, _ := h.q.counts(); acked != 20_000 {
						t.Errorf("dataset %d: %d rows acked, want 20000", i, acked)
					}
				}
				t.Logf("peak in flight %d bytes, budget %d", peak, b.limit)
				if peak > max(b.limit, batchCost(rows, rows*5)) {
					t.Errorf("peak %d bytes in flight, budget %d", peak, b.limit)
				}
				if b.Used() != 0 {
					t.Errorf("%d bytes still held after every POST settled", b.Used())
				}
			})
		})
	}
}

package batcher

import (
	"testing"
	"time"
)

// The large tier starts once the service may hold LargeTableRows rows: rows delivered, rows
// re-queued after an unclean stop (their POST may have been stored) and rows of POSTs that
// failed with an unknown outcome all count, since the service counts the duplicates too.
func TestLargeTierCountsPossibleDuplicates(t *testing.T) {
	tests := []struct {
		name      string
		delivered int64
		requeued  int64
		failed    int // rows of a POST that came back Retryable
		want      bool
	}{
		{name: "delivered below", delivered: 240_000},
		{name: "delivered at the limit", delivered: 250_000, want: true},
		{name: "re-queued rows cross it", delivered: 240_000, requeued: 10_000, want: true},
		{name: "re-queued rows stay below", delivered: 230_000, requeued: 10_000},
		{name: "a failed POST crosses it", delivered: 240_000, failed: 10_000, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewScheduler(t0, SchedulerConfig{Tables: []string{"a"}, Jitter: func(d time.Duration) time.Duration { return d }})
			s.SetDelivered(t0, "a", tc.delivered)
			s.SetRequeued(t0, "a", tc.requeued)
			if tc.failed > 0 {
				s.SetBacklog("a", tc.failed, t0)
				tk := s.Sent(t0, "a", tc.failed)
				s.Result(t0.Add(time.Second), tk, Outcome{Class: Retryable})
			}
			if got := s.Usage(t0.Add(time.Second)).LargeTier; got != tc.want {
				t.Errorf("large tier %v, want %v", got, tc.want)
			}
		})
	}
}

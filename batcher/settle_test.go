package batcher

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// gatedSender answers every POST 2xx once released, whatever its context says: the service's
// answer is on its way when shutdown cancels the request.
type gatedSender struct {
	fakeSender
	release chan struct{}
}

func (s *gatedSender) Send(ctx context.Context, q spool.QueueKey, rows []spool.Row) error {
	_ = s.fakeSender.Send(context.Background(), q, rows) // record the call, answer nil
	<-s.release
	return nil
}

// At shutdown, stop and abort may fire together (backfill on Ctrl-C, or shutdown_timeout 0): a
// POST whose 2xx arrives then must be acked, never nacked and sent again.
func TestDispatcherShutdownSettlesAnsweredPOSTs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		abort, stopAbort := context.WithCancel(context.Background())
		defer stopAbort()
		s := &gatedSender{release: make(chan struct{})}
		q := newMemQueue()
		o := Options{Abort: abort, Queue: q, Destination: s,
			Jitter: func(d time.Duration) time.Duration { return d }}
		o.Dataset.Name = "ds"
		o.Dataset.Tables = []config.Table{{Name: "a"}}
		s.limits.Rates.RowsPerPost = 100
		d := NewDispatcher(o)
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		q.append(keyA, 300)
		synctest.Wait() // POSTs in flight, waiting for their answers
		sent := len(s.snapshot())
		if sent == 0 {
			t.Fatal("no POST in flight")
		}
		stop()
		stopAbort()
		synctest.Wait() // the dispatcher has seen both
		close(s.release)
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		acked, _, ready, inflight := q.counts()
		t.Logf("%d POSTs answered 2xx during shutdown; acked %d rows, %d back in the queue, %d nacks", sent, acked, ready, q.nacks)
		if acked != sent*100 || ready != 300-sent*100 || inflight != 0 {
			t.Errorf("acked %d, ready %d, in flight %d; want every 2xx'd row acked (%d) and none nacked", acked, ready, inflight, sent*100)
		}
		for seq, n := range q.acked {
			if n != 1 {
				t.Errorf("row %d acked %d times", seq, n)
			}
		}
		// The acked rows are gone: a later run sends only what was never answered.
		seen := map[uint64]bool{}
		for _, c := range s.snapshot() {
			for _, seq := range c.seqs {
				seen[seq] = true
			}
		}
		q.mu.Lock()
		for _, rs := range q.ready {
			for _, r := range rs {
				if seen[r.Seq] {
					t.Errorf("row %d was answered 2xx but is queued to be sent again", r.Seq)
				}
			}
		}
		q.mu.Unlock()
	})
}

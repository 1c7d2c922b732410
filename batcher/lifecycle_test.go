package batcher

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// A fatal answer stops the dataset: Run returns the error with the dataset name, after the POSTs
// in flight finished, and every row is back in the queue.
func TestDispatcherFatal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(Options{})
		h.s.latency = 5 * time.Second
		denied := classErr{Outcome{Class: Fatal, Message: "403 not a push dataset"}}
		h.s.answer = func(table string, _ []uint64) error {
			if table == "b" {
				return denied
			}
			return nil
		}
		h.q.append(keyA, 20_000) // a: two POSTs, the second one waits for the row pacer
		h.q.append(spool.QueueKey{Dataset: "ds", Table: "b"}, 10)
		var err error
		select {
		case err = <-h.done:
		case <-time.After(time.Hour):
			t.Fatal("Run did not stop on a fatal error")
		}
		acked, _, ready, inflight := h.q.counts()
		t.Logf("Run: %v; acked %d, ready %d, in flight %d", err, acked, ready, inflight)
		var ce classErr
		if err == nil || !errors.As(err, &ce) || ce.o.Message != denied.o.Message || !strings.Contains(err.Error(), `"ds"`) {
			t.Errorf("Run = %v, want the fatal error wrapped with the dataset name", err)
		}
		if acked+ready != 20_010 || inflight != 0 {
			t.Errorf("acked %d + ready %d != 20010 or %d in flight", acked, ready, inflight)
		}
		h.cancel()
	})
}

// Shutdown stops new POSTs, lets in-flight ones finish until Abort, and Nacks the rest.
func TestDispatcherShutdown(t *testing.T) {
	tests := []struct {
		name       string
		latency    time.Duration
		block      bool
		wantAcked  int
		wantReady  int
		wantRunFor time.Duration // from cancel to Run's return, at most
	}{
		{name: "in-flight POST finishes", latency: 3 * time.Second, wantAcked: 10_000, wantReady: 5_000, wantRunFor: 3 * time.Second},
		{name: "hung POST is abandoned at Abort", block: true, wantReady: 15_000, wantRunFor: 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				abort, stopAbort := context.WithCancel(context.Background())
				h := start(Options{Abort: abort})
				h.s.latency, h.s.block = tc.latency, tc.block
				h.q.append(keyA, 15_000) // one full POST; the partial rest waits for it
				synctest.Wait()          // the first POST is in flight
				h.cancel()
				timeout := time.AfterFunc(10*time.Second, stopAbort) // shutdown_timeout
				defer timeout.Stop()
				t0 := time.Now()
				if err := <-h.done; err != nil {
					t.Fatalf("Run: %v", err)
				}
				took := time.Since(t0)
				acked, _, ready, inflight := h.q.counts()
				t.Logf("Run returned after %v; acked %d, ready %d, POSTs %d", took, acked, ready, len(h.s.snapshot()))
				if acked != tc.wantAcked || ready != tc.wantReady || inflight != 0 || took > tc.wantRunFor {
					t.Errorf("acked %d ready %d in flight %d after %v; want %d, %d, 0 within %v",
						acked, ready, inflight, took, tc.wantAcked, tc.wantReady, tc.wantRunFor)
				}
				if n := len(h.s.snapshot()); n != 1 {
					t.Errorf("%d POSTs, want 1 (none started after shutdown)", n)
				}
				stopAbort()
			})
		})
	}
}

package pipeline

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// The abort of in-flight POSTs comes shutdown_timeout after the stop (Ctrl-C), never with it, so
// a POST answered meanwhile is settled, not resent.
func TestAbortAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop, cancelStop := context.WithCancel(context.Background())
		abort, release := abortAfter(stop, 20*time.Second)
		defer release()
		cancelStop()
		t0 := time.Now()
		synctest.Wait()
		if abort.Err() != nil {
			t.Fatal("abort fired with the stop")
		}
		<-abort.Done()
		if took := time.Since(t0); took != 20*time.Second {
			t.Errorf("abort after %v, want 20s", took)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		abort, release := abortAfter(context.Background(), time.Second)
		release() // a finished backfill releases it: no timer, no goroutine left behind
		if abort.Err() == nil {
			t.Error("release did not cancel")
		}
	})
}

package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestCachingConcurrentCallersShareOneFetch: callers arriving during a fetch wait for it instead
// of fetching again, and a caller whose context ends while waiting returns promptly.
func TestCachingConcurrentCallersShareOneFetch(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{})
	f := func(ctx context.Context, _ bool) (string, time.Time, error) {
		if calls.Add(1) == 1 {
			close(started)
		}
		<-release
		return "tok", time.Now().Add(time.Hour), nil
	}
	c := newCaching("test", "test", f, Options{}.withDefaults(), nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if tok, err := c.Token(context.Background()); err != nil || tok != "tok" {
				t.Errorf("Token = %q, %v", tok, err)
			}
		})
	}
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Token(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: err = %v", err)
	}
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("fetches = %d, want 1", n)
	}
}

// TestCachingInvalidateAsksForFresh: the fetch after Invalidate is fresh, stays fresh until it
// succeeds, and later fetches are not.
func TestCachingInvalidateAsksForFresh(t *testing.T) {
	var fresh []bool
	fail := false
	f := func(_ context.Context, fr bool) (string, time.Time, error) {
		fresh = append(fresh, fr)
		if fail {
			return "", time.Time{}, errors.New("authority down")
		}
		return "tok", time.Now().Add(time.Hour), nil
	}
	c := newCaching("test", "test", f, Options{}.withDefaults(), nil)
	ctx := context.Background()
	steps := []struct {
		invalidate, fail, wantErr bool
	}{
		{false, false, false}, // first fetch: not fresh
		{false, false, false}, // cached: no fetch
		{true, true, true},    // fresh, fails
		{false, false, false}, // still fresh, succeeds
		{false, false, false}, // cached
		{true, false, false},  // fresh again
	}
	for i, s := range steps {
		if s.invalidate {
			c.Invalidate()
		}
		fail = s.fail
		if _, err := c.Token(ctx); (err != nil) != s.wantErr {
			t.Fatalf("step %d: err = %v", i, err)
		}
	}
	want := []bool{false, true, true, true}
	if len(fresh) != len(want) {
		t.Fatalf("fetches %v, want %v", fresh, want)
	}
	for i := range want {
		if fresh[i] != want[i] {
			t.Errorf("fetch %d fresh = %v, want %v", i, fresh[i], want[i])
		}
	}
}

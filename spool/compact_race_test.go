package spool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
	"github.com/pbi-pusher/pbi-pusher/spool/spooltest"
)

// TestCompactionAgainstEverything runs compaction in a loop while appends (several at once, so
// group commits of two or more writes happen), takes, acks, nacks and the POST log run: under
// -race nothing may race, every call must succeed, and every row must be delivered once.
func TestCompactionAgainstEverything(t *testing.T) {
	h := spooltest.New(t, spool.Options{NoSync: true, CompactMinBytes: 256 << 10})
	s := h.S
	const writers, perWriter = 3, 60
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
		cancel()
	}
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := s.Append(ctx, spool.Write{Queue: qA, Rows: padded(fmt.Sprintf("w%d-%03d", w, i), 50)}); err != nil {
					fail(fmt.Errorf("append: %w", err))
					return
				}
			}
		})
	}
	var compactions int
	stopCompact := make(chan struct{})
	compactDone := make(chan struct{})
	go func() {
		defer close(compactDone)
		for {
			select {
			case <-stopCompact:
				return
			default:
			}
			done, err := s.MaybeCompact(ctx)
			if err != nil && ctx.Err() == nil {
				fail(fmt.Errorf("compact: %w", err))
				return
			}
			if done {
				compactions++
			}
			time.Sleep(time.Millisecond)
		}
	}()
	seen := map[string]int{}
	want := writers * perWriter * 50
	deadline := time.Now().Add(60 * time.Second)
	for n := 0; len(seen) < want && ctx.Err() == nil && time.Now().Before(deadline); n++ {
		b, err := s.Take(qA, 200, 0)
		if err != nil {
			fail(fmt.Errorf("take: %w", err))
			break
		}
		if b == nil {
			time.Sleep(time.Millisecond)
			continue
		}
		if err := s.RecordPost("sales", time.Now(), len(b.Rows)); err != nil {
			fail(fmt.Errorf("record post: %w", err))
			break
		}
		if _, err := s.RecentPosts("sales", time.Now().Add(-time.Minute)); err != nil {
			fail(fmt.Errorf("recent posts: %w", err))
			break
		}
		if n%5 == 4 { // every fifth batch comes back once
			if err := s.Nack(b); err != nil {
				fail(fmt.Errorf("nack: %w", err))
			}
			continue
		}
		if err := s.Ack(b); err != nil {
			fail(fmt.Errorf("ack: %w", err))
			break
		}
		for _, id := range ids(b) {
			seen[id]++
		}
	}
	wg.Wait()
	close(stopCompact)
	<-compactDone
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if len(seen) != want {
		t.Fatalf("delivered %d distinct rows, want %d", len(seen), want)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("row %s delivered %d times", id, n)
		}
	}
	if compactions == 0 {
		t.Fatal("compaction never ran: the test proved nothing")
	}
	t.Logf("%d compactions during %d rows", compactions, want)
}

// TestCompactionFailedOpenKeepsTheSpool forces the last fallible step of a compaction (opening
// the compacted copy) to fail: the spool must stay on its old file, usable by every call
// including a group commit of several writes, and the next compaction must work.
func TestCompactionFailedOpenKeepsTheSpool(t *testing.T) {
	h := spooltest.New(t, spool.Options{NoSync: true, CompactMinBytes: 1 << 20})
	fillAndDrain(t, h.S, 20000, 100)
	spool.FailCompactionOpen(h.S, errors.New("injected: open failed"))
	done, err := h.S.MaybeCompact(context.Background())
	if err == nil || done {
		t.Fatalf("MaybeCompact with a failing open: %v, %v; want an error", done, err)
	}
	if _, err := os.Stat(h.Path + ".compact"); !os.IsNotExist(err) {
		t.Fatalf("compacted copy left behind: %v", err)
	}
	var wg sync.WaitGroup
	for i := range 8 { // concurrent appends: group commits of two or more writes
		wg.Go(func() { mustAppend(t, h.S, qB, rows(fmt.Sprintf("g%d", i), 3)) })
	}
	wg.Wait()
	must(t, h.S.RecordPost("sales", time.Now(), 1))
	if _, err := h.S.RecentPosts("sales", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := len(mustTake(t, h.S, qB, 0, 0).Rows); got != 24 {
		t.Fatalf("took %d rows after the failed compaction, want 24", got)
	}
	h.MustCheck()
	spool.FailCompactionOpen(h.S, nil)
	if done, err := h.S.MaybeCompact(context.Background()); err != nil || !done {
		t.Fatalf("compaction after the failure: %v, %v", done, err)
	}
	if h.S.Backlog(qA).Rows != 100 {
		t.Fatalf("backlog %d after compaction, want 100", h.S.Backlog(qA).Rows)
	}
}

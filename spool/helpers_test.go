package spool_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

var (
	qA = spool.QueueKey{Dataset: "sales", Table: "orders"}
	qB = spool.QueueKey{Dataset: "sales", Table: "refunds"}
)

// clock is a virtual clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rows returns n JSON rows named prefix-0 ... prefix-(n-1).
func rows(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"id":"%s-%d"}`, prefix, i)
	}
	return out
}

func mustAppend(t testing.TB, s *spool.Spool, q spool.QueueKey, data [][]byte) {
	t.Helper()
	if err := s.Append(context.Background(), spool.Write{Queue: q, Rows: data}); err != nil {
		t.Fatalf("append: %v", err)
	}
}

func mustTake(t testing.TB, s *spool.Spool, q spool.QueueKey, maxRows, maxBytes int) *spool.Batch {
	t.Helper()
	b, err := s.Take(q, maxRows, maxBytes)
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	return b
}

// ids returns the row data of b as strings.
func ids(b *spool.Batch) []string {
	if b == nil {
		return nil
	}
	out := make([]string, len(b.Rows))
	for i, r := range b.Rows {
		out[i] = string(r.Data)
	}
	return out
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

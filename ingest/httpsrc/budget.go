package httpsrc

import (
	"context"

	"golang.org/x/sync/semaphore"
)

// budget bounds the memory of rows held by requests being read: each request takes bytes for
// the rows it keeps as it decodes them and gives them back when it is answered. A producer that
// stalls mid-body holds only what it sent, so it cannot starve the others (request slots would).
type budget struct{ sem *semaphore.Weighted }

func newBudget(bytes int64) *budget { return &budget{sem: semaphore.NewWeighted(bytes)} }

// budgetHold is one request's share.
type budgetHold struct {
	b    *budget
	held int64
}

func (b *budget) hold() *budgetHold { return &budgetHold{b: b} }

// take waits for n more bytes until ctx ends.
func (h *budgetHold) take(ctx context.Context, n int64) error {
	if err := h.b.sem.Acquire(ctx, n); err != nil {
		return err
	}
	h.held += n
	return nil
}

// release gives back everything held.
func (h *budgetHold) release() {
	if h.held > 0 {
		h.b.sem.Release(h.held)
		h.held = 0
	}
}

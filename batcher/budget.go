package batcher

import "sync"

// Budget bounds the memory held by POSTs in flight across every dispatcher of a process
// (batch.max_inflight_bytes): a dispatcher takes a batch only once its cost is granted and gives
// it back when the POST is settled. Without it, memory grows with the number of datasets (each
// may hold pending POSTs × 10,000 rows). A POST that alone exceeds the budget is granted when
// nothing else is in flight, so every dataset still makes progress.
type Budget struct {
	mu    sync.Mutex
	limit int64
	used  int64
	free  chan struct{} // closed (and replaced) when bytes are released
}

// NewBudget returns a budget of limit bytes; limit <= 0 means no bound (nil works too).
func NewBudget(limit int64) *Budget {
	if limit <= 0 {
		return nil
	}
	return &Budget{limit: limit, free: make(chan struct{})}
}

// rowOverhead is the memory a row costs in flight besides its bytes: its spool.Row (56 bytes),
// the sender's slice header (24) and the spool's in-flight map entry (about 80).
const rowOverhead = 160

// batchCost is what a batch of rows rows and bytes bytes holds in flight: the rows taken from the
// spool, the request body the sink builds from them, and the transient copies of the spool's
// transactions and the HTTP client (measured: about one more copy of the bytes).
func batchCost(rows int, bytes int64) int64 { return 3*bytes + int64(rows)*rowOverhead }

// tryAcquire grants n bytes if they fit (or nothing is in flight) and reports whether it did.
func (b *Budget) tryAcquire(n int64) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used > 0 && b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

// adjust changes a grant by d bytes (the batch taken differs from the estimate): d > 0 is
// granted even past the limit (the rows are already taken), d < 0 is released.
func (b *Budget) adjust(d int64) {
	if b == nil || d == 0 {
		return
	}
	if d < 0 {
		b.release(-d)
		return
	}
	b.mu.Lock()
	b.used += d
	b.mu.Unlock()
}

// release gives n bytes back and wakes the dispatchers waiting for room.
func (b *Budget) release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.free)
	b.free = make(chan struct{})
	b.mu.Unlock()
}

// freed returns a channel closed at the next release (nil for no budget: never ready).
func (b *Budget) freed() <-chan struct{} {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.free
}

// Used returns the bytes in flight now (for metrics).
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

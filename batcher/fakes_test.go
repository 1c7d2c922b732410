package batcher

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// memQueue is an in-memory Queue with the spool's contract: FIFO per queue, Take marks rows in
// flight, Nack puts them back ahead of newer rows, Ack counts them delivered.
type memQueue struct {
	mu        sync.Mutex
	ready     map[spool.QueueKey][]spool.Row
	inflight  map[*spool.Batch]bool
	delivered map[spool.QueueKey]int64
	acked     map[uint64]int // seq -> times acked
	rejected  map[uint64]string
	nacks     int
	seq       uint64
	notify    chan struct{}
}

func newMemQueue() *memQueue {
	return &memQueue{ready: map[spool.QueueKey][]spool.Row{}, inflight: map[*spool.Batch]bool{},
		delivered: map[spool.QueueKey]int64{}, acked: map[uint64]int{}, rejected: map[uint64]string{},
		notify: make(chan struct{}, 1)}
}

func (q *memQueue) append(k spool.QueueKey, n int) {
	q.mu.Lock()
	for range n {
		q.seq++
		data := strconv.AppendUint(nil, q.seq, 10) // the fake sender reads the seq back
		q.ready[k] = append(q.ready[k], spool.Row{Seq: q.seq, Data: data, At: time.Now()})
	}
	q.mu.Unlock()
	q.poke()
}

func (q *memQueue) poke() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *memQueue) Backlog(k spool.QueueKey) spool.Backlog {
	q.mu.Lock()
	defer q.mu.Unlock()
	rs := q.ready[k]
	b := spool.Backlog{Rows: len(rs)}
	if len(rs) > 0 {
		b.Oldest = rs[0].At
	}
	return b
}

func (q *memQueue) Take(k spool.QueueKey, maxRows, maxBytes int) (*spool.Batch, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rs := q.ready[k]
	n := min(maxRows, len(rs))
	if n == 0 {
		return nil, nil
	}
	b := &spool.Batch{Queue: k, Rows: slices.Clone(rs[:n])}
	for _, r := range b.Rows {
		b.Bytes += len(r.Data)
	}
	q.ready[k] = rs[n:]
	q.inflight[b] = true
	return b, nil
}

func (q *memQueue) settle(b *spool.Batch) {
	if !q.inflight[b] {
		panic("batch settled twice or never taken")
	}
	delete(q.inflight, b)
}

func (q *memQueue) Ack(b *spool.Batch) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.settle(b)
	for _, r := range b.Rows {
		q.acked[r.Seq]++
	}
	q.delivered[b.Queue] += int64(len(b.Rows))
	return nil
}

func (q *memQueue) Nack(b *spool.Batch) error {
	q.mu.Lock()
	q.settle(b)
	q.nacks++
	q.ready[b.Queue] = append(slices.Clone(b.Rows), q.ready[b.Queue]...)
	q.mu.Unlock()
	q.poke()
	return nil
}

func (q *memQueue) Reject(b *spool.Batch, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.settle(b)
	for _, r := range b.Rows {
		q.rejected[r.Seq] = reason
	}
	return nil
}

func (q *memQueue) Delivered(k spool.QueueKey) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.delivered[k]
}

func (q *memQueue) Notify() <-chan struct{} { return q.notify }

func (q *memQueue) counts() (acked, rejected, ready, inflight int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, rs := range q.ready {
		ready += len(rs)
	}
	return len(q.acked), len(q.rejected), ready, len(q.inflight)
}

// call is one PostRows as the fake service saw it.
type call struct {
	at    time.Time
	table string
	seqs  []uint64
	err   error
}

// fakeSender answers PostRows with answer (nil = OK) after latency; block makes it wait for ctx.
type fakeSender struct {
	limits  Limits
	mu      sync.Mutex
	latency time.Duration
	answer  func(table string, seqs []uint64) error
	block   bool
	calls   []call
}

func (s *fakeSender) Limits() Limits { return s.limits }

func (s *fakeSender) Classify(err error) Outcome { return testClassify(err) }

func (s *fakeSender) Send(ctx context.Context, q spool.QueueKey, rows []spool.Row) error {
	table := q.Table
	seqs := make([]uint64, len(rows))
	for i, r := range rows {
		seqs[i], _ = strconv.ParseUint(string(r.Data), 10, 64)
	}
	s.mu.Lock()
	c := call{at: time.Now(), table: table, seqs: seqs}
	if s.answer != nil {
		c.err = s.answer(table, seqs)
	}
	s.calls = append(s.calls, c)
	block, latency := s.block, s.latency
	s.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	select {
	case <-time.After(latency):
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *fakeSender) snapshot() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

package kafkasrc

import (
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// ledger counts ids across the recorders of several instances, like the union of their spools.
type ledger struct {
	mu      sync.Mutex
	seen    map[int64]int
	dups    int
	total   int
	bad     []ingest.Record
	sources map[string]bool
	waiters []waiter
}

type waiter struct {
	n  int
	ch chan struct{}
}

func newLedger() *ledger {
	return &ledger{seen: map[int64]int{}, sources: map[string]bool{}}
}

// reached returns a channel closed once at least n distinct ids are recorded.
func (l *ledger) reached(n int) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	if len(l.seen) >= n {
		close(ch)
		return ch
	}
	l.waiters = append(l.waiters, waiter{n, ch})
	return ch
}

func (l *ledger) add(source string, recs []ingest.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sources[source] = true
	for _, r := range recs {
		if _, err := r.Decoded(); err != nil {
			l.bad = append(l.bad, r)
			continue
		}
		id, err := idOf(r)
		if err != nil {
			return err
		}
		l.seen[id]++
		l.total++
		if l.seen[id] > 1 {
			l.dups++
		}
	}
	l.notify()
	return nil
}

func (l *ledger) notify() {
	kept := l.waiters[:0]
	for _, w := range l.waiters {
		if len(l.seen) >= w.n {
			close(w.ch)
			continue
		}
		kept = append(kept, w)
	}
	l.waiters = kept
}

func (l *ledger) distinct() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

func idOf(r ingest.Record) (int64, error) {
	fields, err := r.Decoded()
	if err != nil {
		return 0, err
	}
	v, ok := fields["id"]
	if !ok {
		return 0, fmt.Errorf("record at offset %d has no id", r.Offset)
	}
	return strconv.ParseInt(fmt.Sprint(v), 10, 64)
}

// check fails t unless ids [0, n) were each recorded exactly once.
func (l *ledger) check(t *testing.T, n int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	missing := 0
	for id := range int64(n) {
		if l.seen[id] == 0 {
			missing++
		}
	}
	if missing > 0 || l.dups > 0 || len(l.seen) != n {
		t.Fatalf("ids: want %d each once; got %d distinct, %d missing, %d duplicates", n, len(l.seen), missing, l.dups)
	}
}

// shares records OnShare reports.
type shares struct {
	mu      sync.Mutex
	vals    []float64
	waiters []shareWaiter
}

type shareWaiter struct {
	v    float64
	from int
	ch   chan struct{}
}

func newShares() *shares { return &shares{} }

func (s *shares) add(v float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals = append(s.vals, v)
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if v == w.v {
			close(w.ch)
			continue
		}
		kept = append(kept, w)
	}
	s.waiters = kept
}

// next returns a channel closed when v is reported after this call.
func (s *shares) next(v float64) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := shareWaiter{v: v, from: len(s.vals), ch: make(chan struct{})}
	s.waiters = append(s.waiters, w)
	return w.ch
}

func (s *shares) all() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]float64(nil), s.vals...)
}

func (s *shares) last() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.vals) == 0 {
		return -1
	}
	return s.vals[len(s.vals)-1]
}

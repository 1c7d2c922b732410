package pipeline

import (
	"context"
	"fmt"
	"sync"

	"github.com/pbi-pusher/pbi-pusher/auth"
)

// swapTokens is the sink's token source; a reload with corrected credentials swaps what it
// forwards to without restarting anything.
type swapTokens struct {
	mu  sync.Mutex
	cur auth.Source
}

func (s *swapTokens) get() auth.Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

func (s *swapTokens) Token(ctx context.Context) (string, error) { return s.get().Token(ctx) }
func (s *swapTokens) Invalidate()                               { s.get().Invalidate() }

// String describes the current source (method and ids, never a secret).
func (s *swapTokens) String() string {
	if st, ok := s.get().(fmt.Stringer); ok {
		return st.String()
	}
	return "token source"
}

// SetTokens replaces the token source (SIGHUP with changed auth settings): every later call to
// Power BI signs in with it, and parked datasets are retried. It returns how many were parked.
func (p *Pipeline) SetTokens(src auth.Source) int {
	p.tokens.mu.Lock()
	p.tokens.cur = src
	p.tokens.mu.Unlock()
	return p.Revive()
}

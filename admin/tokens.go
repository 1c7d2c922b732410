package admin

import (
	"context"
	"fmt"
	"sync"
)

// TokenSource is the token source shape shared by auth.Source and sink.TokenSource.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	Invalidate()
}

// Tokens wraps src to count token requests (ok/error), refreshes (a token different from the
// last one, the first included) and invalidations. The wrapper forwards fmt.Stringer.
func (m *Metrics) Tokens(src TokenSource) TokenSource {
	return &tokens{next: src, c: m.tokens}
}

type tokens struct {
	next TokenSource
	c    *tokenCounts
	mu   sync.Mutex
	last string
}

func (t *tokens) Token(ctx context.Context) (string, error) {
	tok, err := t.next.Token(ctx)
	if err != nil {
		t.c.failed.Add(1)
		return tok, err
	}
	t.c.ok.Add(1)
	t.mu.Lock()
	if tok != t.last {
		t.last = tok
		t.c.refreshes.Add(1)
	}
	t.mu.Unlock()
	return tok, nil
}

func (t *tokens) Invalidate() {
	t.c.invalidations.Add(1)
	t.next.Invalidate()
}

// String describes the wrapped source (method and ids, never a secret).
func (t *tokens) String() string {
	if s, ok := t.next.(fmt.Stringer); ok {
		return s.String()
	}
	return "token source"
}

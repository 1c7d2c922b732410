package auth

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// fetcher obtains a token from MSAL. fresh asks it to bypass MSAL's own cache.
type fetcher func(ctx context.Context, fresh bool) (token string, expiresOn time.Time, err error)

// maxRefreshMargin is the most time before expiry at which a cached token is replaced (MSAL's margin).
const maxRefreshMargin = 5 * time.Minute

// cachingSource caches the token of a fetcher until min(5 min, lifetime/5) before its expiry, so
// short-lived tokens (which MSAL never serves from its cache) are not fetched per request.
type cachingSource struct {
	desc, method string
	fetch        fetcher
	now          func() time.Time
	log          *slog.Logger
	secrets      []string

	sem chan struct{} // one fetch at a time; waiters honour their context

	mu        sync.Mutex
	token     string
	refreshAt time.Time // by now()
	gen       uint64    // incremented by Invalidate
	fetched   uint64    // gen the current token was fetched after
}

func newCaching(desc, method string, f fetcher, o Options, secrets []string) *cachingSource {
	return &cachingSource{desc: desc, method: method, fetch: f, now: o.Now, log: o.Logger,
		secrets: secrets, sem: make(chan struct{}, 1)}
}

// String describes the source without secrets.
func (c *cachingSource) String() string { return c.desc }

// Invalidate drops the cached token; the next Token bypasses MSAL's cache too.
func (c *cachingSource) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token = ""
	c.gen++
}

// Token returns the cached token or fetches a new one.
func (c *cachingSource) Token(ctx context.Context) (string, error) {
	if tok, ok := c.cached(); ok {
		return tok, nil
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("auth %s: waiting for a token: %w", c.method, ctx.Err())
	}
	defer func() { <-c.sem }()
	if tok, ok := c.cached(); ok { // another caller refreshed while we waited
		return tok, nil
	}
	return c.refresh(ctx)
}

func (c *cachingSource) cached() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token, c.token != "" && c.now().Before(c.refreshAt)
}

// refresh fetches a token; it is fresh (past MSAL's cache) after an Invalidate.
func (c *cachingSource) refresh(ctx context.Context) (string, error) {
	c.mu.Lock()
	gen, fresh := c.gen, c.gen != c.fetched
	c.mu.Unlock()
	tok, expiresOn, err := c.fetch(ctx, fresh)
	if err != nil {
		err = wrapMSAL(c.method, err, c.secrets)
		// Debug only: the caller reports a failing sign-in once per transition (pipeline health).
		c.log.Debug("auth token request failed", "source", c.desc, "error", err.Error())
		return "", err
	}
	// MSAL stamps expiry with the wall clock; convert it to a lifetime on our clock.
	life := time.Until(expiresOn)
	start := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token, c.refreshAt, c.fetched = tok, start.Add(life-refreshMargin(life)), gen
	c.log.Debug("auth token acquired", "source", c.desc, "expires_in", life.Round(time.Second), "fresh", fresh)
	return tok, nil
}

// refreshMargin is min(5 min, lifetime/5).
func refreshMargin(life time.Duration) time.Duration {
	return min(maxRefreshMargin, life/5)
}

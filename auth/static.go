package auth

import (
	"context"
	"errors"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// staticSource returns auth.token; it cannot refresh.
type staticSource struct{ token string }

func newStatic(a config.Auth) (Source, error) {
	if a.Token == "" {
		return nil, errors.New("auth static_token: auth.token is empty (set it, e.g. token: ${PBI_TOKEN}, or choose another auth.method)")
	}
	return staticSource{token: a.Token}, nil
}

// Token returns the configured token.
func (s staticSource) Token(context.Context) (string, error) { return s.token, nil }

// Invalidate is a no-op: a static token cannot be refreshed.
func (staticSource) Invalidate() {}

// String names the method.
func (staticSource) String() string { return MethodStaticToken }

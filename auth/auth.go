// Package auth obtains and refreshes bearer tokens for the Power BI REST API (static token or MSAL).
//
// CONTRACT STUB: implemented by the sink/auth work.
package auth

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// Options are code-only settings for New.
type Options struct {
	HTTPClient *http.Client // trusts powerbi.ca_file; nil = default
	Logger     *slog.Logger
}

// Source yields tokens. Token is cheap when cached; Invalidate forces the next Token to refresh.
type Source interface {
	Token(ctx context.Context) (string, error)
	Invalidate()
}

// New returns the token source for cfg.Auth in cfg.PowerBI.Cloud.
func New(cfg *config.Config, opts Options) (Source, error) { panic("stub") }

// Package auth obtains and refreshes bearer tokens for the Power BI REST API (static token or MSAL).
package auth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// Method names (auth.method).
const (
	MethodStaticToken      = "static_token"
	MethodClientSecret     = "client_secret"
	MethodClientCert       = "client_certificate"
	MethodWorkloadIdentity = "workload_identity"
	MethodManagedIdentity  = "managed_identity"
	MethodDeviceCode       = "device_code"
	MethodUsernamePassword = "username_password"
)

// Options are code-only settings for New.
type Options struct {
	// HTTPClient is used for every authority request. nil = HTTPClient(cfg) (trusts powerbi.ca_file).
	HTTPClient *http.Client
	// Logger receives lifecycle and refresh logs (nil = discard). Secrets and tokens are never logged.
	Logger *slog.Logger
	// Prompt receives the device code sign-in message (device_code only). nil = os.Stderr.
	Prompt io.Writer
	// Now is the clock of the token cache (nil = time.Now). MSAL itself always uses the wall clock.
	Now func() time.Time
}

// Source yields tokens. Token is cheap when cached; Invalidate forces the next Token to refresh.
// Sources returned by New also implement fmt.Stringer (method and ids, never a secret).
type Source interface {
	Token(ctx context.Context) (string, error)
	Invalidate()
}

// New returns the token source for cfg.Auth in cfg.PowerBI.Cloud.
func New(cfg *config.Config, opts Options) (Source, error) {
	opts = opts.withDefaults()
	if cfg.Auth.Method == "" || cfg.Auth.Method == MethodStaticToken {
		return newStatic(cfg.Auth)
	}
	b, err := newBuilder(cfg, opts)
	if err != nil {
		return nil, err
	}
	return b.build()
}

package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// publicFlow acquires user tokens: silently from the (persistent) cache when it holds an account,
// else by device code or username/password.
type publicFlow struct {
	app    public.Client
	scopes []string
	user   userCreds
	prompt io.Writer
	log    *slog.Logger
	method string
}

// userCreds are the auth.username and auth.password of the public flows.
type userCreds struct{ username, password string }

func (b *builder) public() (fetcher, error) {
	if err := require("auth.client_id", b.a.ClientID); err != nil {
		return nil, err
	}
	if b.method == MethodUsernamePassword {
		if err := require("auth.username", b.a.Username, "auth.password", b.a.Password); err != nil {
			return nil, err
		}
	}
	opts := []public.Option{public.WithAuthority(b.ep.authority), public.WithHTTPClient(b.http),
		public.WithInstanceDiscovery(b.ep.discovery)}
	if b.a.TokenCache != "" {
		opts = append(opts, public.WithCache(fileCache{path: b.a.TokenCache}))
	} else {
		b.opts.Logger.Warn("auth.token_cache is not set: a restart needs a new sign-in", "method", b.method)
	}
	app, err := public.New(b.a.ClientID, opts...)
	if err != nil {
		return nil, fmt.Errorf("create MSAL public client: %w", err)
	}
	p := &publicFlow{app: app, scopes: []string{b.ep.scope}, user: userCreds{b.a.Username, b.a.Password},
		prompt: b.opts.Prompt, log: b.opts.Logger, method: b.method}
	return p.fetch, nil
}

func (p *publicFlow) fetch(ctx context.Context, fresh bool) (string, time.Time, error) {
	if acc, ok := p.account(ctx); ok {
		o := []public.AcquireSilentOption{public.WithSilentAccount(acc)}
		if fresh {
			o = append(o, public.WithClaims(freshClaims()))
		}
		ar, err := p.app.AcquireTokenSilent(ctx, p.scopes, o...)
		if err == nil {
			return ar.AccessToken, ar.ExpiresOn, nil
		}
		p.log.Info("auth silent refresh failed; signing in again", "method", p.method, "error", err.Error())
	}
	ar, err := p.signIn(ctx)
	return ar.AccessToken, ar.ExpiresOn, err
}

// account returns the cached account of auth.username, or the first one when it is empty.
func (p *publicFlow) account(ctx context.Context) (public.Account, bool) {
	accs, err := p.app.Accounts(ctx)
	if err != nil {
		p.log.Warn("auth token cache unreadable", "method", p.method, "error", err.Error())
		return public.Account{}, false
	}
	for _, a := range accs {
		if p.user.username == "" || strings.EqualFold(a.PreferredUsername, p.user.username) {
			return a, true
		}
	}
	return public.Account{}, false
}

func (p *publicFlow) signIn(ctx context.Context) (public.AuthResult, error) {
	if p.method == MethodUsernamePassword {
		return p.app.AcquireTokenByUsernamePassword(ctx, p.scopes, p.user.username, p.user.password) //nolint:staticcheck // ROPC is deprecated by Microsoft but supported for legacy tenants
	}
	dc, err := p.app.AcquireTokenByDeviceCode(ctx, p.scopes)
	if err != nil {
		return public.AuthResult{}, err
	}
	p.log.Info("auth device code sign-in required; follow the printed instructions", "method", p.method)
	if _, err := fmt.Fprintln(p.prompt, dc.Result.Message); err != nil {
		return public.AuthResult{}, fmt.Errorf("print device code message: %w", err)
	}
	return dc.AuthenticationResult(ctx)
}

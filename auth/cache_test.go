package auth_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/auth"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
)

// TestPersistentCacheSurvivesRestart: a second Source built from the same config (a restarted
// daemon) gets its token from auth.token_cache without any sign-in or token request.
func TestPersistentCacheSurvivesRestart(t *testing.T) {
	tests := []struct {
		method  string
		signIns func(aad.Stats) int
	}{
		{auth.MethodDeviceCode, func(s aad.Stats) int { return s.DeviceCodes }},
		{auth.MethodUsernamePassword, func(s aad.Stats) int { return s.Password }},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			r := aad.StartTLS(t, aad.Options{Users: map[string]string{user: passwd}, DeviceCodeUser: user, DeviceCodePendingPolls: 1})
			cachePath := filepath.Join(t.TempDir(), "msal-cache.json")
			cfg := cfgFor(r, tc.method, func(a *config.Auth) {
				a.ClientID, a.Username, a.Password, a.TokenCache = "public-app", user, passwd, cachePath
			})
			prompt := &syncBuffer{}
			first := token(t, newSource(t, cfg, auth.Options{Prompt: prompt}))
			fi, err := os.Stat(cachePath)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("token cache file: %v, %v; want mode 0600", fi, err)
			}
			if tc.method == auth.MethodDeviceCode && strings.Count(prompt.String(), "enter the code") != 1 {
				t.Errorf("prompt = %q, want the device code message once", prompt.String())
			}
			before := r.Stats()
			restarted := newSource(t, cfg, auth.Options{Prompt: prompt})
			if got := token(t, restarted); got != first {
				t.Errorf("restarted source got a different token")
			}
			after := r.Stats()
			if tc.signIns(after) != 1 || after.Issued != before.Issued {
				t.Errorf("restart: sign-ins %d, issued %d→%d; want 1 sign-in and no new token", tc.signIns(after), before.Issued, after.Issued)
			}
			restarted.Invalidate() // the cached refresh token serves a forced refresh, still without a sign-in
			if tok := token(t, restarted); tok == first || !r.Valid(tok) || tc.signIns(r.Stats()) != 1 || r.Stats().RefreshToken != 1 {
				t.Errorf("forced refresh after restart: stats %+v", r.Stats())
			}
		})
	}
}

// TestShortLifetimeRefresh: with 5-second tokens (MSAL never caches them) Token is served from
// auth's own cache and refreshed before expiry, so every token handed out is valid when used.
func TestShortLifetimeRefresh(t *testing.T) {
	tests := []struct {
		method string
		edit   func(*config.Auth)
	}{
		{auth.MethodClientSecret, func(a *config.Auth) { a.ClientID, a.ClientSecret = "app", secret }},
		{auth.MethodUsernamePassword, func(a *config.Auth) { a.ClientID, a.Username, a.Password = "public-app", user, passwd }},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			r := aad.StartTLS(t, aad.Options{
				TokenLifetime: 5 * time.Second, Now: clk.Now,
				Clients: map[string]string{"app": secret}, Users: map[string]string{user: passwd},
			})
			src := newSource(t, cfgFor(r, tc.method, tc.edit), auth.Options{Now: clk.Now})
			const step, total = 200 * time.Millisecond, 10 * time.Second
			for elapsed := time.Duration(0); elapsed <= total; elapsed += step {
				if tok := token(t, src); !r.Valid(tok) {
					t.Fatalf("at %v: token handed out is not valid", elapsed)
				}
				clk.Add(step)
			}
			// Refresh at 4 s of 5 (margin lifetime/5): tokens at 0, ~4 and ~8 s.
			if got := r.Stats().Issued; got != 3 {
				t.Errorf("issued %d tokens over %v, want 3", got, total)
			}
		})
	}
}

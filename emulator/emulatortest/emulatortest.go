// Package emulatortest starts a Power BI emulator on a real listener for tests.
package emulatortest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
)

// DefaultToken is the bearer token accepted when Options.Tokens is empty.
const DefaultToken = "emulator-test-token"

// AADClientID and AADClientSecret are the confidential client the fake Azure AD of
// Options.AAD accepts.
const (
	AADClientID     = "emulatortest-client"
	AADClientSecret = "emulatortest-client-secret"
)

// Options configure Start.
type Options struct {
	emulator.Options
	// TLS serves HTTPS with httptest's self-signed certificate; use Emulator.Client.
	TLS bool
	// AAD starts a fake Azure AD (HTTPS, Emulator.AAD) beside the emulator; the emulator then
	// accepts its tokens (and Options.Tokens, if any): expired ones are answered 403 TokenExpired.
	AAD bool
	// AADTokenLifetime is the expires_in of the fake's tokens (0 = 1h).
	AADTokenLifetime time.Duration
	// AADTokenDiesAfter (implies AAD) makes every token die this long after it was issued while
	// it still advertises AADTokenLifetime: the -aad-token-dies-after mode of the emulator.
	AADTokenDiesAfter time.Duration
}

// Emulator is a running emulator.
type Emulator struct {
	URL    string // REST base, e.g. http://127.0.0.1:PORT/v1.0/myorg
	Root   string // server root, e.g. http://127.0.0.1:PORT (web page at Root+"/")
	Token  string // a bearer token the emulator accepts ("" when only ValidateToken decides)
	Server *emulator.Server
	HTTP   *httptest.Server
	Client *http.Client // trusts the TLS certificate when TLS is on
	// AAD is the fake Azure AD of Options.AAD (nil without): authority AAD.Authority(tenant),
	// client AADClientID/AADClientSecret, CA file AAD.CAFile.
	AAD *aad.Running
}

// Start starts an emulator with opts (zero = Power BI limits) and stops it at test cleanup.
// Unless opts.Tokens or opts.ValidateToken is set, DefaultToken is the only accepted token.
func Start(t testing.TB, opts emulator.Options) *Emulator {
	t.Helper()
	return StartWith(t, Options{Options: opts})
}

// StartWith is Start with test-harness options (TLS, fake Azure AD).
func StartWith(t testing.TB, opts Options) *Emulator {
	t.Helper()
	o := opts.Options
	for _, ws := range o.Workspaces {
		if !emulator.ValidWorkspaceID(ws.ID) {
			t.Fatalf("emulatortest: workspace id %q is not a uuid", ws.ID)
		}
	}
	var idp *aad.Running
	if opts.AAD || opts.AADTokenDiesAfter > 0 {
		idp = aad.StartTLS(t, aad.Options{Clients: map[string]string{AADClientID: AADClientSecret},
			TokenLifetime: opts.AADTokenLifetime, DiesAfter: opts.AADTokenDiesAfter})
		if o.ValidateToken == nil {
			o.ValidateToken = idp.Valid
		}
		if o.ExpiredToken == nil {
			o.ExpiredToken = idp.Expired
		}
	}
	token := DefaultToken
	if len(o.Tokens) == 0 && o.ValidateToken == nil {
		o.Tokens = []string{token}
	} else if len(o.Tokens) > 0 {
		token = o.Tokens[0]
	} else {
		token = ""
	}
	srv := emulator.New(o)
	hs := httptest.NewUnstartedServer(srv)
	if opts.TLS {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(hs.Close)
	return &Emulator{URL: hs.URL + "/v1.0/myorg", Root: hs.URL, Token: token, Server: srv, HTTP: hs,
		Client: hs.Client(), AAD: idp}
}

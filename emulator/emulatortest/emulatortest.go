// Package emulatortest starts a Power BI emulator on a real listener for tests.
package emulatortest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/emulator"
)

// DefaultToken is the bearer token accepted when Options.Tokens is empty.
const DefaultToken = "emulator-test-token"

// Options configure Start.
type Options struct {
	emulator.Options
	// TLS serves HTTPS with httptest's self-signed certificate; use Emulator.Client.
	TLS bool
}

// Emulator is a running emulator.
type Emulator struct {
	URL    string // REST base, e.g. http://127.0.0.1:PORT/v1.0/myorg
	Root   string // server root, e.g. http://127.0.0.1:PORT (web page at Root+"/")
	Token  string // a bearer token the emulator accepts ("" when only ValidateToken decides)
	Server *emulator.Server
	HTTP   *httptest.Server
	Client *http.Client // trusts the TLS certificate when TLS is on
}

// Start starts an emulator with opts (zero = Power BI limits) and stops it at test cleanup.
// Unless opts.Tokens or opts.ValidateToken is set, DefaultToken is the only accepted token.
func Start(t testing.TB, opts emulator.Options) *Emulator {
	t.Helper()
	return StartWith(t, Options{Options: opts})
}

// StartWith is Start with test-harness options (TLS).
func StartWith(t testing.TB, opts Options) *Emulator {
	t.Helper()
	o := opts.Options
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
		Client: hs.Client()}
}

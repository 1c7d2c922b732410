package aad

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// Running is a Server listening on a loopback TLS port.
type Running struct {
	*Server
	// URL is the base URL, e.g. https://127.0.0.1:43210. Authorities are URL + "/" + tenant.
	URL string
	// Client is an HTTP client that trusts the server's certificate.
	Client *http.Client
	// CAFile is the server certificate as PEM in a file (for powerbi.ca_file).
	CAFile string
	// HTTPTest is the underlying test server.
	HTTPTest *httptest.Server
}

// StartTLS starts a Server with opts on a loopback TLS port; it is closed when t ends.
func StartTLS(t testing.TB, opts Options) *Running {
	t.Helper()
	srv := New(opts)
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // clients that distrust the certificate are expected
	ts.StartTLS()
	t.Cleanup(ts.Close)
	ca := filepath.Join(t.TempDir(), "aad-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatalf("write CA file: %v", err)
	}
	return &Running{Server: srv, URL: ts.URL, Client: ts.Client(), CAFile: ca, HTTPTest: ts}
}

// Authority returns the authority URL of tenant on r.
func (r *Running) Authority(tenant string) string { return r.URL + "/" + tenant }

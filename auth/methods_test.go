package auth_test

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/auth"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
)

// TestMethodsEndToEnd runs every MSAL method through real MSAL against the fake AAD over TLS
// (trusted through powerbi.ca_file): a token is issued and valid, the second Token is served
// from the cache, and Invalidate forces a new token from the authority.
func TestMethodsEndToEnd(t *testing.T) {
	cert, key, err := aad.NewClientCert("pbi-pusher-test")
	if err != nil {
		t.Fatal(err)
	}
	fed := &assertions{accept: map[string]bool{"k8s-sa-token": true}}
	opts := aad.Options{
		Clients:        map[string]string{"app-secret": secret},
		Certs:          map[string][]*x509.Certificate{"app-cert": {cert}},
		FederatedToken: fed.check,
		Users:          map[string]string{user: passwd},
		IdentityHeader: "id-header",
	}
	tests := []struct {
		name, method string
		edit         func(t *testing.T, r *aad.Running, a *config.Auth)
	}{
		{"client secret", auth.MethodClientSecret, func(_ *testing.T, _ *aad.Running, a *config.Auth) {
			a.ClientID, a.ClientSecret = "app-secret", secret
		}},
		{"certificate PKCS#8 PEM", auth.MethodClientCert, func(t *testing.T, _ *aad.Running, a *config.Auth) {
			a.ClientID, a.Certificate = "app-cert", writeCertPEM(t, cert, key, false)
		}},
		{"certificate PKCS#1 PEM", auth.MethodClientCert, func(t *testing.T, _ *aad.Running, a *config.Auth) {
			a.ClientID, a.Certificate = "app-cert", writeCertPEM(t, cert, key, true)
		}},
		{"certificate PFX with password", auth.MethodClientCert, func(t *testing.T, _ *aad.Running, a *config.Auth) {
			a.ClientID, a.CertificatePassword = "app-cert", "pfx-pass"
			a.Certificate = writeCertPFX(t, cert, key, a.CertificatePassword, true)
		}},
		{"workload identity from env", auth.MethodWorkloadIdentity, func(t *testing.T, r *aad.Running, a *config.Auth) {
			file := filepath.Join(t.TempDir(), "token")
			writeFile(t, file, "k8s-sa-token\n")
			a.Tenant, a.AuthorityURL = "", ""
			t.Setenv("AZURE_TENANT_ID", tenant)
			t.Setenv("AZURE_CLIENT_ID", "app-wi")
			t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
			t.Setenv("AZURE_AUTHORITY_HOST", r.URL+"/")
		}},
		{"managed identity system-assigned", auth.MethodManagedIdentity, func(t *testing.T, r *aad.Running, a *config.Auth) {
			msiEnv(t, r)
			a.Scope = miScope(r, "system")
		}},
		{"managed identity user-assigned", auth.MethodManagedIdentity, func(t *testing.T, r *aad.Running, a *config.Auth) {
			msiEnv(t, r)
			a.ClientID, a.Scope = "uami-client", miScope(r, "user")
		}},
		{"username password", auth.MethodUsernamePassword, func(_ *testing.T, _ *aad.Running, a *config.Auth) {
			a.ClientID, a.Username, a.Password = "public-app", user, passwd
		}},
		{"device code", auth.MethodDeviceCode, func(_ *testing.T, _ *aad.Running, a *config.Auth) {
			a.ClientID = "public-app"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := aad.StartTLS(t, opts)
			cfg := cfgFor(r, tc.method, nil)
			tc.edit(t, r, &cfg.Auth)
			src := newSource(t, cfg, auth.Options{Prompt: &syncBuffer{}})
			if s := fmt.Sprint(src); !strings.HasPrefix(s, tc.method) || strings.Contains(s, secret) || strings.Contains(s, passwd) {
				t.Errorf("String() = %q: must name the method and no secret", s)
			}
			first := token(t, src)
			if !r.Valid(first) || token(t, src) != first || r.Stats().Issued != 1 {
				t.Fatalf("first token valid=%v, issued=%d: want valid, cached, 1 issued", r.Valid(first), r.Stats().Issued)
			}
			src.Invalidate()
			second := token(t, src)
			if second == first || !r.Valid(second) || r.Stats().Issued != 2 {
				t.Errorf("after Invalidate: new=%v valid=%v issued=%d, want a new valid token and 2 issued",
					second != first, r.Valid(second), r.Stats().Issued)
			}
		})
	}
}

// miScope is unique per fake server: MSAL caches managed identity tokens process-wide.
func miScope(r *aad.Running, kind string) string {
	return "https://mi-" + kind + "." + strings.NewReplacer(":", "-", ".", "-").Replace(strings.TrimPrefix(r.URL, "https://")) + ".example.test/.default"
}

func msiEnv(t *testing.T, r *aad.Running) {
	t.Setenv("IDENTITY_ENDPOINT", r.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", "id-header")
}

func TestStaticToken(t *testing.T) {
	for _, method := range []string{"", auth.MethodStaticToken} {
		cfg := &config.Config{Auth: config.Auth{Method: method, Token: "static-bearer"}}
		src := newSource(t, cfg, auth.Options{})
		src.Invalidate() // no-op: nothing can refresh a static token
		if got := token(t, src); got != "static-bearer" {
			t.Errorf("method %q: token %q", method, got)
		}
		if s := fmt.Sprint(src); s != auth.MethodStaticToken {
			t.Errorf("String() = %q", s)
		}
	}
	if _, err := auth.New(&config.Config{Auth: config.Auth{Method: auth.MethodStaticToken}}, auth.Options{}); err == nil {
		t.Error("empty auth.token accepted")
	}
}

func TestWorkloadIdentityRereadsTokenFile(t *testing.T) {
	fed := &assertions{accept: map[string]bool{"assertion-1": true, "assertion-2": true}}
	r := aad.StartTLS(t, aad.Options{FederatedToken: fed.check})
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	writeFile(t, file, "assertion-1")
	cfg := cfgFor(r, auth.MethodWorkloadIdentity, func(a *config.Auth) { a.ClientID, a.FederatedTokenFile = "app-wi", file })
	src := newSource(t, cfg, auth.Options{})
	token(t, src)
	if fed.last() != "assertion-1" {
		t.Fatalf("first assertion %q", fed.last())
	}
	writeFile(t, file, "assertion-2") // the kubelet rotates the projected token
	src.Invalidate()
	if tok := token(t, src); !r.Valid(tok) || fed.last() != "assertion-2" {
		t.Errorf("after rotation the authority saw %q, want assertion-2", fed.last())
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	src.Invalidate()
	if _, err := src.Token(t.Context()); err == nil || !strings.Contains(err.Error(), "federated token file") {
		t.Errorf("missing token file: err = %v", err)
	}
}

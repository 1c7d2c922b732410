package auth_test

import (
	"crypto/x509"
	stderrors "errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/pbi-pusher/pbi-pusher/auth"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
)

// TestErrorsNameMethodAndHintWithoutSecrets: a rejected credential gives an *auth.Error naming the
// method and a hint, wrapping MSAL's CallErr, and never containing the secret.
func TestErrorsNameMethodAndHintWithoutSecrets(t *testing.T) {
	registered, _, err := aad.NewClientCert("registered")
	if err != nil {
		t.Fatal(err)
	}
	other, otherKey, err := aad.NewClientCert("other")
	if err != nil {
		t.Fatal(err)
	}
	r := aad.StartTLS(t, aad.Options{
		Clients: map[string]string{"app": "the-right-secret"}, Users: map[string]string{user: "the-right-password"},
		Certs: map[string][]*x509.Certificate{"app": {registered}},
	})
	tests := []struct {
		name, method, leak, hint string
		edit                     func(*testing.T, *config.Auth)
	}{
		{"wrong secret", auth.MethodClientSecret, secret, "auth.client_secret", func(_ *testing.T, a *config.Auth) { a.ClientID, a.ClientSecret = "app", secret }},
		{"unknown client", auth.MethodClientSecret, secret, "auth.client_id", func(_ *testing.T, a *config.Auth) { a.ClientID, a.ClientSecret = "nobody", secret }},
		{"wrong password", auth.MethodUsernamePassword, passwd, "auth.password", func(_ *testing.T, a *config.Auth) {
			a.ClientID, a.Username, a.Password = "public-app", user, passwd
		}},
		{"unregistered certificate", auth.MethodClientCert, "", "not registered", func(t *testing.T, a *config.Auth) {
			a.ClientID, a.Certificate = "app", writeCertPEM(t, other, otherKey, false)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfgFor(r, tc.method, nil)
			tc.edit(t, &cfg.Auth)
			_, err := newSource(t, cfg, auth.Options{}).Token(t.Context())
			var ae *auth.Error
			var ce errors.CallErr
			if !stderrors.As(err, &ae) || !stderrors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want *auth.Error wrapping CallErr", err, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "auth "+tc.method) || !strings.Contains(msg, tc.hint) {
				t.Errorf("error %q lacks method %q or hint %q", msg, tc.method, tc.hint)
			}
			if tc.leak != "" && strings.Contains(msg, tc.leak) {
				t.Errorf("error leaks the secret: %q", msg)
			}
		})
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.Config
		want string
	}{
		{"unknown method", config.Config{Auth: config.Auth{Method: "kerberos"}}, `auth.method "kerberos"`},
		{"unknown cloud", config.Config{PowerBI: config.PowerBI{Cloud: "mars"}, Auth: config.Auth{Method: auth.MethodClientSecret}}, `powerbi.cloud "mars"`},
		{"http authority", config.Config{Auth: config.Auth{Method: auth.MethodClientSecret, AuthorityURL: "http://127.0.0.1:1"}}, "must be an https URL"},
		{"no tenant", config.Config{Auth: config.Auth{Method: auth.MethodClientSecret, ClientID: "a", ClientSecret: "s"}}, "auth.tenant is required"},
		{"no secret", config.Config{Auth: config.Auth{Method: auth.MethodClientSecret, Tenant: "t", ClientID: "a"}}, "auth.client_secret is required"},
		{"no certificate", config.Config{Auth: config.Auth{Method: auth.MethodClientCert, Tenant: "t", ClientID: "a"}}, "auth.certificate is required"},
		{"missing certificate file", config.Config{Auth: config.Auth{Method: auth.MethodClientCert, Tenant: "t", ClientID: "a", Certificate: "/nonexistent.pem"}}, "auth.certificate"},
		{"unreadable pfx certificate", config.Config{Auth: config.Auth{Method: auth.MethodClientCert, Tenant: "t", ClientID: "a", Certificate: pfxFile(t)}}, "openssl pkcs12"},
		{"no federated token file", config.Config{Auth: config.Auth{Method: auth.MethodWorkloadIdentity, Tenant: "t", ClientID: "a"}}, "AZURE_FEDERATED_TOKEN_FILE"},
		{"no password", config.Config{Auth: config.Auth{Method: auth.MethodUsernamePassword, ClientID: "a", Username: "u"}}, "auth.password is required"},
		{"no public client id", config.Config{Auth: config.Auth{Method: auth.MethodDeviceCode}}, "auth.client_id is required"},
		{"bad CA file", config.Config{PowerBI: config.PowerBI{CAFile: "/nonexistent-ca.pem"}, Auth: config.Auth{Method: auth.MethodClientSecret}}, "powerbi.ca_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST"} {
				t.Setenv(k, "")
			}
			_, err := auth.New(&tc.cfg, auth.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// pfxFile writes bytes that are not PEM (the start of a DER PKCS#12 SEQUENCE).
func pfxFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "client.pfx")
	writeFile(t, path, "\x30\x82\x0a\x1b\x02\x01\x03")
	return path
}

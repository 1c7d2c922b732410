package aad_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
)

const (
	tenant = "tenant-a"
	scope  = "https://analysis.windows.net/powerbi/api/.default"
)

// acquire runs one MSAL flow against r and returns the access token.
type acquire func(t *testing.T, ctx context.Context, r *aad.Running) (string, error)

func confidentialFlow(id string, cred func(t *testing.T) confidential.Credential) acquire {
	return func(t *testing.T, ctx context.Context, r *aad.Running) (string, error) {
		app, err := confidential.New(r.Authority(tenant), id, cred(t),
			confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(r.Client))
		if err != nil {
			t.Fatalf("confidential.New: %v", err)
		}
		ar, err := app.AcquireTokenByCredential(ctx, []string{scope})
		return ar.AccessToken, err
	}
}

func publicApp(t *testing.T, r *aad.Running) public.Client {
	app, err := public.New("public-app", public.WithAuthority(r.Authority(tenant)),
		public.WithInstanceDiscovery(false), public.WithHTTPClient(r.Client))
	if err != nil {
		t.Fatalf("public.New: %v", err)
	}
	return app
}

func passwordFlow(user, pass string) acquire {
	return func(t *testing.T, ctx context.Context, r *aad.Running) (string, error) {
		ar, err := publicApp(t, r).AcquireTokenByUsernamePassword(ctx, []string{scope}, user, pass) //nolint:staticcheck // ROPC is deprecated but supported
		return ar.AccessToken, err
	}
}

func deviceFlow(t *testing.T, ctx context.Context, r *aad.Running) (string, error) {
	dc, err := publicApp(t, r).AcquireTokenByDeviceCode(ctx, []string{scope})
	if err != nil {
		return "", err
	}
	if !strings.Contains(dc.Result.Message, dc.Result.UserCode) {
		t.Errorf("device code message %q lacks the user code", dc.Result.Message)
	}
	ar, err := dc.AuthenticationResult(ctx)
	return ar.AccessToken, err
}

func secret(s string) func(*testing.T) confidential.Credential {
	return func(t *testing.T) confidential.Credential {
		c, err := confidential.NewCredFromSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

func TestMSALFlows(t *testing.T) {
	cert, key, err := aad.NewClientCert("app-cert")
	if err != nil {
		t.Fatal(err)
	}
	other, otherKey, err := aad.NewClientCert("not-registered")
	if err != nil {
		t.Fatal(err)
	}
	certCred := func(c *x509.Certificate, k any) func(*testing.T) confidential.Credential {
		return func(t *testing.T) confidential.Credential {
			cr, err := confidential.NewCredFromCert([]*x509.Certificate{c}, k)
			if err != nil {
				t.Fatal(err)
			}
			return cr
		}
	}
	federated := func(tok string) func(*testing.T) confidential.Credential {
		return func(*testing.T) confidential.Credential {
			return confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
				return tok, nil
			})
		}
	}
	opts := aad.Options{
		Clients:                map[string]string{"app-secret": "s3cr3t"},
		Certs:                  map[string][]*x509.Certificate{"app-cert": {cert}},
		FederatedToken:         func(id, a string) bool { return id == "app-wi" && a == "k8s-token-1" },
		Users:                  map[string]string{"alice@example.test": "pa55"},
		DeviceCodePendingPolls: 2,
	}
	tests := []struct {
		name    string
		flow    acquire
		wantErr string // substring of the MSAL error; "" = success
		counter func(aad.Stats) int
	}{
		{"client secret", confidentialFlow("app-secret", secret("s3cr3t")), "", func(s aad.Stats) int { return s.ClientSecret }},
		{"wrong secret", confidentialFlow("app-secret", secret("nope")), "AADSTS7000215", func(s aad.Stats) int { return s.ClientSecret }},
		{"unknown client", confidentialFlow("who", secret("s3cr3t")), "AADSTS700016", func(s aad.Stats) int { return s.ClientSecret }},
		{"certificate", confidentialFlow("app-cert", certCred(cert, key)), "", func(s aad.Stats) int { return s.ClientCert }},
		{"unregistered certificate", confidentialFlow("app-cert", certCred(other, otherKey)), "AADSTS700027", func(s aad.Stats) int { return s.ClientCert }},
		{"federated", confidentialFlow("app-wi", federated("k8s-token-1")), "", func(s aad.Stats) int { return s.Federated }},
		{"federated rejected", confidentialFlow("app-wi", federated("k8s-token-0")), "AADSTS70021", func(s aad.Stats) int { return s.Federated }},
		{"password", passwordFlow("alice@example.test", "pa55"), "", func(s aad.Stats) int { return s.Password }},
		{"wrong password", passwordFlow("alice@example.test", "bad"), "AADSTS50126", func(s aad.Stats) int { return s.Password }},
		{"device code", deviceFlow, "", func(s aad.Stats) int { return s.DeviceCodePolls - 2 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := aad.StartTLS(t, opts)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tok, err := tc.flow(t, ctx, r)
			if got := tc.counter(r.Stats()); got != 1 {
				t.Errorf("grant counter = %d, want 1 (stats %+v)", got, r.Stats())
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if r.Stats().Issued != 0 {
					t.Errorf("issued %d tokens on a failed grant", r.Stats().Issued)
				}
				return
			}
			if err != nil {
				t.Fatalf("acquire: %v", err)
			}
			if !r.Valid(tok) || r.Valid(tok+"x") {
				t.Errorf("Valid(issued)=%v Valid(forged)=%v, want true,false", r.Valid(tok), r.Valid(tok+"x"))
			}
		})
	}
}

func TestUserFlowRefreshToken(t *testing.T) {
	r := aad.StartTLS(t, aad.Options{Users: map[string]string{"bob@example.test": "pw"}, TokenLifetime: 10 * time.Second})
	ctx := context.Background()
	app := publicApp(t, r)
	first, err := app.AcquireTokenByUsernamePassword(ctx, []string{scope}, "bob@example.test", "pw") //nolint:staticcheck // ROPC
	if err != nil {
		t.Fatal(err)
	}
	if first.IDToken.PreferredUsername != "bob@example.test" || first.Account.HomeAccountID == "" {
		t.Errorf("id token username %q, home account %q", first.IDToken.PreferredUsername, first.Account.HomeAccountID)
	}
	// A 10 s token is inside MSAL's 5-minute expiry margin, so a silent call must redeem the refresh token.
	silent, err := app.AcquireTokenSilent(ctx, []string{scope}, public.WithSilentAccount(first.Account))
	if err != nil {
		t.Fatalf("silent: %v", err)
	}
	if silent.AccessToken == first.AccessToken || !r.Valid(silent.AccessToken) {
		t.Errorf("silent returned the old or an invalid token")
	}
	if got := r.Stats().RefreshToken; got != 1 {
		t.Errorf("refresh_token grants = %d, want 1", got)
	}
}

func thumb256(c *x509.Certificate) string {
	h := sha256.Sum256(c.Raw)
	return base64.StdEncoding.EncodeToString(h[:])
}

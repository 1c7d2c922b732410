package aad_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
)

// reply is a decoded JSON response.
type reply struct {
	status int
	body   map[string]any
}

func do(t *testing.T, r *aad.Running, req *http.Request) reply {
	t.Helper()
	resp, err := r.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode %s: %v", req.URL.Path, err)
	}
	return reply{resp.StatusCode, body}
}

func post(t *testing.T, r *aad.Running, path string, form url.Values) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, r, req)
}

func get(t *testing.T, r *aad.Running, path string, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(t, r, req)
}

// signAssertion signs a certificate client assertion the way MSAL does, with overridable claims.
func signAssertion(t *testing.T, cert *x509.Certificate, key any, aud, iss string, exp time.Time) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.MapClaims{"aud": aud, "iss": iss, "sub": iss, "exp": exp.Unix(), "nbf": time.Now().Add(-time.Minute).Unix()})
	tok.Header["x5t#S256"] = thumb256(cert)
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenEndpointErrors(t *testing.T) {
	cert, key, err := aad.NewClientCert("c")
	if err != nil {
		t.Fatal(err)
	}
	r := aad.StartTLS(t, aad.Options{
		Clients: map[string]string{"app": "s3cr3t"}, Certs: map[string][]*x509.Certificate{"app": {cert}},
		Users: map[string]string{"u@example.test": "pw"},
	})
	tokenPath := "/" + tenant + "/oauth2/v2.0/token"
	aud := r.URL + tokenPath
	cc := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {scope}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string
		wantAADSTS string
	}{
		{"secret ok", cc("client_secret", "s3cr3t"), 200, "", ""},
		{"wrong secret", cc("client_secret", "x"), 401, "invalid_client", "AADSTS7000215"},
		{"unknown client", cc("client_id", "nobody", "client_secret", "s3cr3t"), 400, "unauthorized_client", "AADSTS700016"},
		{"no credential", cc(), 401, "invalid_client", "AADSTS7000218"},
		{"scope without .default", cc("client_secret", "s3cr3t", "scope", "https://x/Read"), 400, "invalid_scope", "AADSTS1002012"},
		{"assertion ok", cc("client_assertion", signAssertion(t, cert, key, aud, "app", time.Now().Add(time.Minute))), 200, "", ""},
		{"assertion wrong audience", cc("client_assertion", signAssertion(t, cert, key, "https://elsewhere/token", "app", time.Now().Add(time.Minute))), 401, "invalid_client", "AADSTS700027"},
		{"assertion wrong issuer", cc("client_assertion", signAssertion(t, cert, key, aud, "other", time.Now().Add(time.Minute))), 401, "invalid_client", "AADSTS700027"},
		{"assertion expired", cc("client_assertion", signAssertion(t, cert, key, aud, "app", time.Now().Add(-time.Minute))), 401, "invalid_client", "AADSTS700027"},
		{"federated without validator", cc("client_assertion", "opaque-k8s-token"), 400, "invalid_client", "AADSTS70021"},
		{"password ok", url.Values{"grant_type": {"password"}, "client_id": {"p"}, "username": {"u@example.test"}, "password": {"pw"}, "scope": {scope}}, 200, "", ""},
		{"unknown user", url.Values{"grant_type": {"password"}, "client_id": {"p"}, "username": {"x@example.test"}, "password": {"pw"}}, 400, "invalid_grant", "AADSTS50126"},
		{"bad refresh token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"p"}, "refresh_token": {"forged"}}, 400, "invalid_grant", "AADSTS70000"},
		{"bad device code", url.Values{"grant_type": {"device_code"}, "client_id": {"p"}, "device_code": {"forged"}}, 400, "expired_token", "AADSTS70020"},
		{"unsupported grant", url.Values{"grant_type": {"implicit"}}, 400, "unsupported_grant_type", "AADSTS70003"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := post(t, r, tokenPath, tc.form)
			if got.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", got.status, tc.wantStatus, got.body)
			}
			if tc.wantError == "" {
				tok, _ := got.body["access_token"].(string)
				if !r.Valid(tok) || got.body["token_type"] != "Bearer" || got.body["expires_in"] != float64(3600) {
					t.Errorf("bad success body %v", got.body)
				}
				return
			}
			desc, _ := got.body["error_description"].(string)
			if got.body["error"] != tc.wantError || !strings.HasPrefix(desc, tc.wantAADSTS+":") {
				t.Errorf("body = %v, want error %q with %s", got.body, tc.wantError, tc.wantAADSTS)
			}
			if strings.Contains(desc, "s3cr3t") || strings.Contains(desc, "pw") {
				t.Errorf("error description leaks a secret: %q", desc)
			}
		})
	}
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestValidUntilExpiry(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := aad.StartTLS(t, aad.Options{Clients: map[string]string{"app": "s"}, TokenLifetime: time.Minute, Now: clk.Now})
	got := post(t, r, "/"+tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s"}, "scope": {scope}})
	tok, _ := got.body["access_token"].(string)
	tests := []struct {
		advance time.Duration
		token   string
		want    bool
	}{
		{0, tok, true},
		{0, "", false},
		{0, "fake-aad-at.forged", false},
		{59 * time.Second, tok, true},
		{time.Second, tok, false}, // exactly at expiry
	}
	for i, tc := range tests {
		clk.Add(tc.advance)
		if got := r.Valid(tc.token); got != tc.want {
			t.Errorf("step %d: Valid = %v, want %v", i, got, tc.want)
		}
	}
	if got.body["expires_in"] != float64(60) {
		t.Errorf("expires_in = %v, want 60", got.body["expires_in"])
	}
}

func TestDeviceCodePending(t *testing.T) {
	const pending = 3
	r := aad.StartTLS(t, aad.Options{DeviceCodePendingPolls: pending, DeviceCodeUser: "dev@example.test"})
	dc := post(t, r, "/"+tenant+"/oauth2/v2.0/devicecode", url.Values{"client_id": {"cli"}, "scope": {scope + " offline_access"}})
	code, _ := dc.body["device_code"].(string)
	msg, _ := dc.body["message"].(string)
	if code == "" || !strings.Contains(msg, dc.body["user_code"].(string)) {
		t.Fatalf("device code body %v", dc.body)
	}
	poll := url.Values{"grant_type": {"device_code"}, "client_id": {"cli"}, "device_code": {code}}
	for i := range pending {
		if got := post(t, r, "/"+tenant+"/oauth2/v2.0/token", poll); got.body["error"] != "authorization_pending" {
			t.Fatalf("poll %d: %v, want authorization_pending", i, got.body)
		}
	}
	got := post(t, r, "/"+tenant+"/oauth2/v2.0/token", poll)
	for _, k := range []string{"access_token", "refresh_token", "id_token", "client_info", "scope"} {
		if s, _ := got.body[k].(string); s == "" {
			t.Errorf("success body lacks %s: %v", k, got.body)
		}
	}
	if again := post(t, r, "/"+tenant+"/oauth2/v2.0/token", poll); again.status != 400 {
		t.Errorf("a redeemed device code was accepted again: %v", again.body)
	}
	if st := r.Stats(); st.DeviceCodes != 1 || st.DeviceCodePolls != pending+2 {
		t.Errorf("stats %+v", st)
	}
}

func TestDiscoveryAndRealm(t *testing.T) {
	r := aad.StartTLS(t, aad.Options{})
	d := get(t, r, "/"+tenant+"/v2.0/.well-known/openid-configuration", nil)
	if d.body["token_endpoint"] != r.URL+"/"+tenant+"/oauth2/v2.0/token" || d.body["issuer"] != r.URL+"/"+tenant+"/v2.0" {
		t.Errorf("discovery %v", d.body)
	}
	for _, p := range []string{"/common/UserRealm/a@contoso.test?api-version=1.0", "/common/userrealm/a@contoso.test"} {
		if u := get(t, r, p, nil); u.body["account_type"] != "Managed" || u.body["domain_name"] != "contoso.test" {
			t.Errorf("%s: %v", p, u.body)
		}
	}
}

func TestManagedIdentityEndpoint(t *testing.T) {
	r := aad.StartTLS(t, aad.Options{IdentityHeader: "hdr"})
	res := url.QueryEscape("https://analysis.windows.net/powerbi/api")
	tests := []struct {
		name   string
		path   string
		header map[string]string
		status int
	}{
		{"app service", "/msi/token?api-version=2019-08-01&resource=" + res, map[string]string{"X-IDENTITY-HEADER": "hdr"}, 200},
		{"app service user-assigned", "/msi/token?api-version=2019-08-01&client_id=uami&resource=" + res, map[string]string{"X-IDENTITY-HEADER": "hdr"}, 200},
		{"wrong header", "/msi/token?resource=" + res, map[string]string{"X-IDENTITY-HEADER": "other"}, 401},
		{"no resource", "/msi/token", map[string]string{"X-IDENTITY-HEADER": "hdr"}, 400},
		{"imds", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + res, map[string]string{"Metadata": "true"}, 200},
		{"imds without metadata header", "/metadata/identity/oauth2/token?resource=" + res, nil, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := get(t, r, tc.path, tc.header)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d: %v", got.status, tc.status, got.body)
			}
			if tc.status != 200 {
				return
			}
			tok, _ := got.body["access_token"].(string)
			exp, _ := got.body["expires_on"].(string)
			if !r.Valid(tok) || exp == "" || got.body["resource"] != "https://analysis.windows.net/powerbi/api" {
				t.Errorf("body %v", got.body)
			}
		})
	}
}

func TestWriteSelfSigned(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	kp, err := aad.WriteSelfSigned(certPath, keyPath, []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	ts := httptest.NewUnstartedServer(aad.New(aad.Options{}))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{kp}}
	ts.StartTLS()
	defer ts.Close()
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("cert file is not PEM")
	}
	for _, tc := range []struct {
		name  string
		roots *x509.CertPool
		ok    bool
	}{{"trusting the file", pool, true}, {"system roots only", nil, false}} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tc.roots}}}
		resp, err := c.Get(ts.URL + "/t/v2.0/.well-known/openid-configuration")
		if resp != nil {
			resp.Body.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestDiesAfterAndExpired(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := aad.StartTLS(t, aad.Options{Clients: map[string]string{"app": "s"}, DiesAfter: 3 * time.Second, Now: clk.Now})
	got := post(t, r, "/"+tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s"}, "scope": {scope}})
	tok, _ := got.body["access_token"].(string)
	if got.body["expires_in"] != float64(3600) {
		t.Fatalf("expires_in = %v, want the advertised 3600", got.body["expires_in"])
	}
	tests := []struct {
		advance        time.Duration
		token          string
		valid, expired bool
	}{
		{0, tok, true, false},
		{0, "fake-aad-at.forged", false, false},
		{2999 * time.Millisecond, tok, true, false},
		{time.Millisecond, tok, false, true},
		{aad.ExpiredMemory - time.Second, tok, false, true},
	}
	for i, tc := range tests {
		clk.Add(tc.advance)
		if v, e := r.Valid(tc.token), r.Expired(tc.token); v != tc.valid || e != tc.expired {
			t.Errorf("step %d: Valid=%v Expired=%v, want %v %v", i, v, e, tc.valid, tc.expired)
		}
	}
}

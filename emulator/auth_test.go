package emulator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

const tokenExpiredBody = `{"error":{"code":"TokenExpired","message":"Access token has expired, resubmit with a new access token"}}`

// TestTokenVerdicts: a known token past its expiry is 403 TokenExpired with the captured
// message; a missing, unknown or refused token is 401 PowerBINotAuthorizedException.
func TestTokenVerdicts(t *testing.T) {
	clk := newClock()
	expires := clk.Now().Add(time.Hour)
	issued := map[string]bool{"aad-token": true}
	valid := func(tok string) bool { return issued[tok] && clk.Now().Before(expires) }
	expired := func(tok string) bool { return issued[tok] && !clk.Now().Before(expires) }
	e := emulatortest.Start(t, emulator.Options{Now: clk.Now, ValidateToken: valid, ExpiredToken: expired})
	tests := []struct {
		advance time.Duration
		token   string
		status  int
		body    string
	}{
		{0, "aad-token", 200, ""},
		{0, "", 401, `"code":"PowerBINotAuthorizedException"`},
		{0, "forged", 401, `"code":"PowerBINotAuthorizedException"`},
		{59 * time.Minute, "aad-token", 200, ""},
		{time.Minute, "aad-token", 403, tokenExpiredBody},
		{0, "forged", 401, `"code":"PowerBINotAuthorizedException"`},
	}
	for i, tc := range tests {
		clk.Advance(tc.advance)
		for _, path := range []string{"datasets"} {
			r := call(t, e, "GET", path, "", tc.token)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.body) {
				t.Fatalf("step %d %s: %d %s, want %d with %s", i, path, r.status, r.body, tc.status, tc.body)
			}
		}
	}
}

// TestTokenDiesAfter runs MSAL against the fake Azure AD in -aad-token-dies-after mode: the
// token advertises an hour but is answered 403 TokenExpired after 1 s; a fresh token (MSAL
// with its cache bypassed by a new client) is accepted again.
func TestTokenDiesAfter(t *testing.T) {
	e := emulatortest.StartWith(t, emulatortest.Options{AADTokenDiesAfter: time.Second})
	cred, err := confidential.NewCredFromSecret(emulatortest.AADClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	token := func() (string, time.Time) {
		app, err := confidential.New(e.AAD.Authority("tenant-1"), emulatortest.AADClientID, cred,
			confidential.WithHTTPClient(e.AAD.Client), confidential.WithInstanceDiscovery(false))
		if err != nil {
			t.Fatal(err)
		}
		res, err := app.AcquireTokenByCredential(context.Background(), []string{"https://analysis.windows.net/powerbi/api/.default"})
		if err != nil {
			t.Fatal(err)
		}
		return res.AccessToken, res.ExpiresOn
	}
	tok, expiresOn := token()
	if time.Until(expiresOn) < 50*time.Minute {
		t.Fatalf("token advertises expiry %v, want about an hour", expiresOn)
	}
	if r := call(t, e, "GET", "datasets", "", tok); r.status != 200 {
		t.Fatalf("fresh token: %d %s", r.status, r.body)
	}
	time.Sleep(1100 * time.Millisecond) // the token dies on the wall clock
	r := call(t, e, "GET", "datasets", "", tok)
	var got any
	if r.status != http.StatusForbidden || r.code != "TokenExpired" || json.Unmarshal(r.body, &got) != nil ||
		strings.TrimSpace(string(r.body)) != tokenExpiredBody {
		t.Fatalf("dead token: %d %s, want 403 %s", r.status, r.body, tokenExpiredBody)
	}
	fresh, _ := token()
	if r := call(t, e, "GET", "datasets", "", fresh); fresh == tok || r.status != 200 {
		t.Fatalf("fresh token after death: same=%v %d %s", fresh == tok, r.status, r.body)
	}
}

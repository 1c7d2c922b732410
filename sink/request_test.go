package sink

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestPostRowsRefreshesTokenOnceOn401(t *testing.T) {
	tests := []struct {
		name         string
		accepted     string // token the server accepts
		expired403   bool   // refuse with 403 TokenExpired (the live service), not 401
		wantClass    Class
		wantAuth     bool
		wantRequests int32
	}{
		{name: "fresh token accepted", accepted: "fresh", wantClass: OK, wantRequests: 2},
		{name: "fresh token refused too", accepted: "never", wantClass: Retryable, wantAuth: true, wantRequests: 2},
		{name: "first token accepted", accepted: "stale", wantClass: OK, wantRequests: 1},
		{name: "403 TokenExpired, fresh token accepted", accepted: "fresh", expired403: true, wantClass: OK, wantRequests: 2},
		{name: "403 TokenExpired, fresh token refused too", accepted: "never", expired403: true, wantClass: Retryable, wantAuth: true, wantRequests: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				if r.Header.Get("Authorization") == "Bearer "+tt.accepted {
					return
				}
				if tt.expired403 {
					w.WriteHeader(http.StatusForbidden)
					_, _ = w.Write([]byte(`{"error":{"code":"TokenExpired","message":"Access token has expired, resubmit with a new access token"}}`))
					return
				}
				w.WriteHeader(http.StatusUnauthorized)
			}))
			defer srv.Close()
			tokens := &countingTokens{tokens: []string{"stale", "fresh"}}
			c := resolvedClient(t, srv, tokens)
			err := c.PostRows(context.Background(), "sales", "orders", 1, [][]byte{[]byte(`{"id":1}`)})
			if Classify(err) != tt.wantClass {
				t.Fatalf("class %v (err %v), want %v", Classify(err), err, tt.wantClass)
			}
			if IsAuth(err) != tt.wantAuth {
				t.Errorf("IsAuth(%v) = %v, want %v", err, IsAuth(err), tt.wantAuth)
			}
			if got := requests.Load(); got != tt.wantRequests {
				t.Errorf("requests = %d, want %d", got, tt.wantRequests)
			}
			if got := tokens.invalidates.Load(); got != tt.wantRequests-1 {
				t.Errorf("Invalidate calls = %d, want %d", got, tt.wantRequests-1)
			}
		})
	}
}

// dialCounter is an HTTP client that counts the TCP connections it opens.
func dialCounter() (*http.Client, *atomic.Int32) {
	var n atomic.Int32
	d := &net.Dialer{}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return d.DialContext(ctx, network, addr)
	}}
	return &http.Client{Transport: tr}, &n
}

func TestErrorBodyIsCappedAndDrained(t *testing.T) {
	huge := strings.Repeat("x", 4<<20) // 4 MiB: more than the cap, less than the drain bound
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(huge))
	}))
	defer srv.Close()
	hc, dials := dialCounter()
	c := newClient(t, oneTable(srv.URL, "sales", "orders", cols("id", "Int64")), nil, nil, hc)
	c.sets["sales"].setID("ds1")
	for i := range 3 {
		err := c.PostRows(context.Background(), "sales", "orders", uint64(i), [][]byte{[]byte(`{"id":1}`)})
		if Classify(err) != Retryable {
			t.Fatalf("class %v, want retryable", Classify(err))
		}
		if n := len(Message(err)); n > maxRawMessage+len("…") {
			t.Fatalf("message is %d bytes, want it capped at %d", n, maxRawMessage)
		}
	}
	if got := dials.Load(); got != 1 {
		t.Errorf("opened %d connections for 3 requests; the error bodies were not drained", got)
	}
}

func TestReadReplyKeepsOnlyTheCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(strings.Repeat("y", 2*maxErrorBody)))
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if r := readReply(resp); len(r.body) != maxErrorBody {
		t.Errorf("kept %d bytes of the error body, want %d", len(r.body), maxErrorBody)
	}
}

func TestSequenceNumberHeader(t *testing.T) {
	tests := []struct {
		name string
		on   bool
		seq  uint64
		want string
	}{
		{name: "on", on: true, seq: 18446744073709551615, want: "18446744073709551615"},
		{name: "on zero", on: true, seq: 0, want: "0"},
		{name: "off", on: false, seq: 42, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			var present bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				got = r.Header.Values("X-PowerBI-PushData-SequenceNumber")
				present = len(got) > 0
			}))
			defer srv.Close()
			cfg := oneTable(srv.URL, "sales", "orders", cols("id", "Int64"))
			cfg.PowerBI.SequenceNumbers = tt.on
			c := newClient(t, cfg, nil, nil, srv.Client())
			c.sets["sales"].setID("ds1")
			if err := c.PostRows(context.Background(), "sales", "orders", tt.seq, [][]byte{[]byte(`{"id":1}`)}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if present != (tt.want != "") || (present && (len(got) != 1 || got[0] != tt.want)) {
				t.Errorf("header = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPostRowsRequestShape(t *testing.T) {
	var gotPath, gotBody, gotAuth, gotType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotPath, gotBody, gotAuth, gotType = r.URL.EscapedPath(), string(b), r.Header.Get("Authorization"), r.Header.Get("Content-Type")
	}))
	defer srv.Close()
	cfg := oneTable(srv.URL+"/v1.0/myorg", "sales", "my orders #1", cols("id", "Int64"))
	cfg.PowerBI.Workspace = "ws 1"
	c := newClient(t, cfg, &countingTokens{tokens: []string{"secret"}}, nil, srv.Client())
	c.sets["sales"].setID("ds1")
	rows := [][]byte{[]byte(`{"id":1}`), []byte(`{"id": 2.50e0}`)}
	if err := c.PostRows(context.Background(), "sales", "my orders #1", 7, rows); err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"path":         {gotPath, "/v1.0/myorg/groups/ws%201/datasets/ds1/tables/my%20orders%20%231/rows"},
		"body":         {gotBody, `{"rows":[{"id":1},{"id": 2.50e0}]}`},
		"auth":         {gotAuth, "Bearer secret"},
		"content-type": {gotType, "application/json; charset=utf-8"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
}

func TestTokensNeverLogged(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"code":"PowerBINotAuthorizedException"}}`))
	}))
	defer srv.Close()
	var logs strings.Builder
	c, err := New(Options{
		Config:     oneTable(srv.URL, "sales", "orders", cols("id", "Int64")),
		Tokens:     &countingTokens{tokens: []string{"secret-one", "secret-two"}},
		HTTPClient: srv.Client(),
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Prepare(context.Background())
	if !IsAuth(err) || logs.Len() == 0 {
		t.Fatalf("Prepare = %v with logs %q, want an auth error and a refresh log", err, logs.String())
	}
	if out := logs.String() + err.Error(); strings.Contains(out, "secret-") {
		t.Errorf("a token leaked into logs or errors: %s", out)
	}
}

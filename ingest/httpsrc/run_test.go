package httpsrc_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest/httpsrc"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// TestServeShutsDownGracefully: a request in flight when the context ends still gets its 200
// after its rows are spooled, and Serve then returns nil.
func TestServeShutsDownGracefully(t *testing.T) {
	e := newEnv(t, spool.Options{})
	gate := newGate(e.target.Writer)
	e.target.Writer = gate
	s := newServer(t, config.Source{Table: "Sales/Orders", Tokens: []string{"tok"}}, httpsrc.Options{Resolve: e.resolve})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	url := "http://" + ln.Addr().String() + rowsURL
	checkAnswer(t, post(t, url, "", goodBody), 401, "Unauthorized", nil)
	answer := make(chan result, 1)
	go func() {
		resp, err := postWithToken(url, "tok", goodBody)
		answer <- result{resp, err}
	}()
	<-gate.entered
	cancel()
	close(gate.release)
	checkAnswer(t, (<-answer).get(t), 200, "", nil)
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	if n := e.backlog(); n != 2 {
		t.Errorf("spool holds %d rows, want 2", n)
	}
}

func TestRunFailsOnBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e := newEnv(t, spool.Options{})
	s := newServer(t, config.Source{Listen: ln.Addr().String()}, httpsrc.Options{Resolve: e.resolve})
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("Run: %v, want a listen error", err)
	}
}

func TestListenAddress(t *testing.T) {
	resolve := func(string, string) (httpsrc.Target, bool) { return httpsrc.Target{}, false }
	tests := []struct {
		listen, want string
		tokens       []string
		open         bool // allow_unauthenticated
		refused      bool
	}{
		{listen: "", want: "127.0.0.1:8089"},
		{listen: "127.0.0.1", want: "127.0.0.1:8089"},
		{listen: "localhost:9000", want: "localhost:9000"},
		{listen: "0.0.0.0:9000", want: "0.0.0.0:9000", tokens: []string{"tok"}},
		{listen: ":9000", want: ":9000", open: true},
		{listen: "0.0.0.0:9001", refused: true},
		{listen: ":9002", refused: true},
		{listen: "10.1.2.3:9003", refused: true},
		{listen: "[::1]", want: "[::1]:8089"},
		{listen: "::1", want: "[::1]:8089"},
	}
	for _, tc := range tests {
		t.Run(tc.listen, func(t *testing.T) {
			s, err := httpsrc.New(config.Source{Listen: tc.listen, Tokens: tc.tokens, AllowUnauthenticated: tc.open}, httpsrc.Options{Resolve: resolve})
			if tc.refused {
				if err == nil || !strings.Contains(err.Error(), "allow_unauthenticated") {
					t.Fatalf("listening on %s without tokens: err %v, want a refusal", tc.listen, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Addr() != tc.want {
				t.Errorf("Addr %q, want %q", s.Addr(), tc.want)
			}
		})
	}
	if _, err := httpsrc.New(config.Source{}, httpsrc.Options{}); err == nil {
		t.Error("New without a resolver succeeded")
	}
}

// TestMaxInFlight: with one slot taken by a request blocked in its write, a second request is
// not served: its client gives up after 300ms without an answer and its rows are not spooled
// (without the limit it would be answered 200 at once: only the first write is blocked).
func TestMaxInFlight(t *testing.T) {
	e := newEnv(t, spool.Options{})
	gate := newGate(e.target.Writer)
	e.target.Writer = gate
	s := newServer(t, config.Source{}, httpsrc.Options{Resolve: e.resolve, MaxInFlight: 1})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	first := postAsync(srv.URL+rowsURL, goodBody)
	<-gate.entered
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+rowsURL, strings.NewReader(goodBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("second request answered %d while the only slot was taken", resp.StatusCode)
	}
	close(gate.release)
	checkAnswer(t, (<-first).get(t), 200, "", nil)
	// The abandoned second request may still be spooled once the slot frees: a server cannot
	// know a client gave up until it reads from the connection (under load it often has not yet).
	if n := e.backlog(); n != 2 && n != 4 {
		t.Errorf("spool holds %d rows, want the first request's 2 (or 4 with the abandoned one)", n)
	}
	checkAnswer(t, post(t, srv.URL+rowsURL, "", goodBody), 200, "", nil) // the slot is free again
}

package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url, accept string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

func TestReadiness(t *testing.T) {
	var spoolOpen atomic.Bool
	s, err := NewServer(ServerOptions{Listen: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(), Ready: spoolOpen.Load})
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, s)
	steps := []struct {
		name            string
		act             func()
		healthz, readyz int
	}{
		{"starting", func() {}, 200, 503},
		{"marked ready, Ready func still false", func() { s.SetReady(true) }, 200, 503},
		{"both ready", func() { spoolOpen.Store(true) }, 200, 200},
		{"unready again (shutting down)", func() { s.SetReady(false) }, 200, 503},
	}
	for _, st := range steps {
		st.act()
		if code, _, _ := get(t, base+"/healthz", ""); code != st.healthz {
			t.Errorf("%s: /healthz %d, want %d", st.name, code, st.healthz)
		}
		if code, _, _ := get(t, base+"/readyz", ""); code != st.readyz {
			t.Errorf("%s: /readyz %d, want %d", st.name, code, st.readyz)
		}
	}
}

func TestStatusJSONAndHTMLAgree(t *testing.T) {
	f := newFixture(t)
	f.write(t, good("a"), good("b"))
	if err := f.queue.Ack(f.take(t, 1)); err != nil {
		t.Fatal(err)
	}
	f.srv.SetReady(true)
	for _, tc := range []struct {
		name, path, accept, wantType string
	}{
		{"Accept header", "/status", "application/json", "application/json"},
		{"format query", "/status?format=json", "", "application/json"},
		{"browser", "/status", "text/html,*/*", "text/html"},
	} {
		code, ctype, body := get(t, f.base+tc.path, tc.accept)
		if code != 200 || !strings.HasPrefix(ctype, tc.wantType) {
			t.Fatalf("%s: %d %q", tc.name, code, ctype)
		}
		if tc.wantType == "text/html" {
			for _, want := range []string{"<h2>Telemetry", "<td>Readings</td><td>2</td><td>2</td><td>1</td><td>0</td><td>1</td>", "ready: <b>true</b>", "dispatcher not running"} {
				if !strings.Contains(body, want) {
					t.Errorf("%s: page lacks %q:\n%s", tc.name, want, body)
				}
			}
			continue
		}
		var st Status
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		tbl := st.Datasets[0].Tables[0]
		if !st.Ready || tbl.Read != 2 || tbl.Spooled != 2 || tbl.Delivered != 1 || tbl.BacklogRows != 1 || st.Datasets[0].Budget == nil {
			t.Errorf("%s: status %+v, table %+v", tc.name, st, tbl)
		}
		if len(st.Datasets) != 2 || st.Datasets[1].Budget != nil || st.Datasets[1].Retention != "basicFIFO" {
			t.Errorf("%s: second dataset %+v", tc.name, st.Datasets)
		}
	}
}

func TestServerLifecycle(t *testing.T) {
	s, err := NewServer(ServerOptions{Listen: "127.0.0.1:0", Gatherer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewServer(ServerOptions{Listen: s.Addr().String(), Gatherer: prometheus.NewRegistry()}); err == nil {
		t.Error("second server on a busy port started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if code, _, _ := get(t, "http://"+s.Addr().String()+"/healthz", ""); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if _, err := http.Get("http://" + s.Addr().String() + "/healthz"); err == nil {
		t.Error("server still answers after Run returned")
	}
	if _, err := NewServer(ServerOptions{Listen: "127.0.0.1:0"}); err == nil {
		t.Error("server without a Gatherer started")
	}
}

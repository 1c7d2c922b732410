package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// apiFixture is the metrics fixture with its spool attached to the API: 3 good rows in
// Telemetry/Readings, then a malformed record (decode) and a schema-bad one (schema), then
// Power BI rejects the first good row: dead letters 1 "invalid JSON" and 2 "... is not a number"
// (at the wall clock: the writer stamps them), 3 "400 Rejected by Power BI" (at t0).
func apiFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.srv.SetSpool(f.sp)
	f.write(t, good("a"), good("b"), good("c"),
		ingest.Record{Line: 4, Err: errors.New("invalid JSON"), Raw: []byte("{")},
		ingest.Record{Line: 5, Fields: map[string]any{"device": "d", "value": "NaN?"}, Raw: []byte("{}")})
	if err := f.queue.Reject(f.take(t, 1), "400 Rejected by Power BI"); err != nil {
		t.Fatal(err)
	}
	return f
}

func apiCall(t *testing.T, method, url, token string, form url.Values, out any) int {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, url, err, raw)
		}
	}
	return resp.StatusCode
}

func TestAPISpoolView(t *testing.T) {
	f := apiFixture(t)
	_ = f.take(t, 1) // one row in flight
	var v SpoolView
	if code := apiCall(t, http.MethodGet, f.base+APISpool, "", nil, &v); code != http.StatusOK {
		t.Fatalf("GET %s: %d", APISpool, code)
	}
	if len(v.Queues) != 1 || v.Queues[0].Rows != 1 || v.Queues[0].InFlight != 1 || v.DeadLetters != 3 ||
		v.Queues[0].OldestAgeSec != 90 || v.Path != f.sp.Path() {
		t.Errorf("view %+v", v)
	}
}

func TestAPIDeadLetters(t *testing.T) {
	f := apiFixture(t)
	tests := []struct {
		query    string
		code     int
		wantIDs  []uint64
		wantNext uint64
	}{
		{"", 200, []uint64{1, 2, 3}, 0},
		{"?limit=2", 200, []uint64{1, 2}, 2},
		{"?limit=2&after=2", 200, []uint64{3}, 0},
		{"?reason=rejected", 200, []uint64{3}, 0},
		{"?reason=INVALID+json", 200, []uint64{1}, 0},
		{"?table=Telemetry/Readings", 200, []uint64{1, 2, 3}, 0},
		{"?table=Other", 200, []uint64{}, 0},
		{"?since=2026-11-23T12:00:00Z&until=2026-11-23T12:00:01Z", 200, []uint64{3}, 0},
		{"?since=2026-11-23T12:00:01Z", 200, []uint64{1, 2}, 0},
		{"?until=2026-11-23T12:00:00Z", 200, []uint64{}, 0},
		{"?id=2&id=3", 200, []uint64{2, 3}, 0},
		{"?since=yesterday", 400, nil, 0},
		{"?limit=5000", 400, nil, 0},
		{"?id=x", 400, nil, 0},
	}
	for _, tc := range tests {
		var page DeadLetterPage
		code := apiCall(t, http.MethodGet, f.base+APIDeadLetters+tc.query, "", nil, &page)
		if code != tc.code {
			t.Errorf("%s: %d, want %d", tc.query, code, tc.code)
			continue
		}
		if code != 200 {
			continue
		}
		got := []uint64{}
		for _, d := range page.DeadLetters {
			got = append(got, d.ID)
		}
		if !equalIDs(got, tc.wantIDs) || page.Next != tc.wantNext {
			t.Errorf("%s: ids %v next %d, want %v next %d", tc.query, got, page.Next, tc.wantIDs, tc.wantNext)
		}
	}
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAPIReplayAndPurge(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		form      url.Values
		code      int
		wantN     int
		wantDead  int
		wantReady int
	}{
		{"replay by id", APIReplay, url.Values{"id": {"3"}}, 200, 1, 2, 3},
		{"replay by reason", APIReplay, url.Values{"reason": {"rejected"}}, 200, 1, 2, 3},
		// The decode and schema dead letters hold source input ("{", a record); without the
		// spool's Remap (the agent sets it from its config) they stay dead letters.
		{"replay all", APIReplay, url.Values{"all": {"true"}}, 200, 1, 2, 3},
		{"replay an unknown id", APIReplay, url.Values{"id": {"42"}}, 404, 0, 3, 2},
		{"replay without a filter", APIReplay, url.Values{}, 400, 0, 3, 2},
		{"replay with paging", APIReplay, url.Values{"limit": {"1"}, "all": {"true"}}, 400, 0, 3, 2},
		{"purge by table and reason", APIPurge, url.Values{"table": {"Telemetry/Readings"}, "reason": {"not a number"}}, 200, 1, 2, 2},
		{"purge all", APIPurge, url.Values{"all": {"true"}}, 200, 3, 0, 2},
		{"purge without a filter", APIPurge, nil, 400, 0, 3, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := apiFixture(t)
			var res MutationResult
			code := apiCall(t, http.MethodPost, f.base+tc.path, "", tc.form, &res)
			if code != tc.code {
				t.Fatalf("status %d, want %d", code, tc.code)
			}
			if code == 200 {
				n := res.Replayed
				if n == nil {
					n = res.Purged
				}
				if n == nil || *n != tc.wantN {
					t.Errorf("result %+v, want %d", res, tc.wantN)
				}
			}
			st := f.sp.Stats()
			if st.DeadLetters != tc.wantDead || st.Queues[readings].Rows != tc.wantReady {
				t.Errorf("dead %d ready %d, want %d %d", st.DeadLetters, st.Queues[readings].Rows, tc.wantDead, tc.wantReady)
			}
		})
	}
}

func TestAPIMutationsNeedTheToken(t *testing.T) {
	tests := []struct {
		name, listen, token, sent string
		want                      int
	}{
		{"loopback without a token", "127.0.0.1:9464", "", "", 0},
		{"localhost without a token", "localhost:9464", "", "", 0},
		{"IPv6 loopback without a token", "[::1]:9464", "", "", 0},
		{"all interfaces without a token", "0.0.0.0:9464", "", "", http.StatusForbidden},
		{"pod IP without a token", ":9464", "", "", http.StatusForbidden},
		{"all interfaces, token missing", "0.0.0.0:9464", "s3cret-token", "", http.StatusUnauthorized},
		{"all interfaces, wrong token", "0.0.0.0:9464", "s3cret-token", "guess", http.StatusUnauthorized},
		{"all interfaces, right token", "0.0.0.0:9464", "s3cret-token", "s3cret-token", 0},
		{"loopback with a token configured still needs it", "127.0.0.1:9464", "s3cret-token", "", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{o: ServerOptions{Listen: tc.listen, Token: tc.token}}
			r, _ := http.NewRequest(http.MethodPost, "http://x"+APIReplay, nil)
			if tc.sent != "" {
				r.Header.Set("Authorization", "Bearer "+tc.sent)
			}
			if code, msg := s.authorize(r); code != tc.want || (code != 0 && msg == "") {
				t.Errorf("authorize = %d %q, want %d", code, msg, tc.want)
			}
		})
	}
	// Over HTTP: a token-protected server refuses a replay without it and reads stay open.
	f := apiFixture(t)
	f.srv.o.Token = "s3cret-token"
	if code := apiCall(t, http.MethodPost, f.base+APIPurge, "", url.Values{"all": {"true"}}, nil); code != http.StatusUnauthorized {
		t.Errorf("purge without the token: %d", code)
	}
	if code := apiCall(t, http.MethodPost, f.base+APIPurge, "s3cret-token", url.Values{"all": {"true"}}, nil); code != http.StatusOK {
		t.Errorf("purge with the token: %d", code)
	}
	if code := apiCall(t, http.MethodGet, f.base+APIDeadLetters, "", nil, nil); code != http.StatusOK {
		t.Errorf("listing without the token: %d", code)
	}
}

func TestAPIBeforeTheSpoolOpens(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{APISpool, APIDeadLetters} {
		if code := apiCall(t, http.MethodGet, f.base+p, "", nil, nil); code != http.StatusServiceUnavailable {
			t.Errorf("GET %s before SetSpool: %d, want 503", p, code)
		}
	}
}

func TestStatusLinksTheDeadLetters(t *testing.T) {
	f := apiFixture(t)
	st := opsStatusJSON(t, f.base)
	if st["dead_letters_url"] != APIDeadLetters {
		t.Errorf("/status dead_letters_url = %v", st["dead_letters_url"])
	}
	resp, err := http.Get(f.base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	html, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`href="/api/v1/dead-letters"`, `href="/api/v1/dead-letters?table=Telemetry/Readings"`} {
		if !strings.Contains(string(html), want) {
			t.Errorf("/status HTML lacks %s", want)
		}
	}
}

func opsStatusJSON(t *testing.T, base string) map[string]any {
	t.Helper()
	var m map[string]any
	if code := apiCall(t, http.MethodGet, base+"/status?format=json", "", nil, &m); code != 200 {
		t.Fatalf("/status: %d", code)
	}
	return m
}

// forecastingDispatcher is a fakeDispatcher whose scheduler state starts a forecast: a
// retention-None table already in the large tier with 300,000 rows to send in 1,000-row POSTs.
type forecastingDispatcher struct{ fakeDispatcher }

func (f *forecastingDispatcher) ForecastInput() batcher.ForecastInput {
	return batcher.ForecastInput{Limits: config.Limits{RowsPerPost: 1000}, Retention: "None",
		Tables: []batcher.ForecastTable{{Name: "Readings", Backlog: 300_000, Held: 400_000}}}
}

func TestStatusShowsTheDrainForecast(t *testing.T) {
	f := newFixture(t)
	fd := &forecastingDispatcher{}
	f.m.SetSources(Sources{Spool: f.sp, Dispatcher: func(ds string) DispatcherReader {
		if ds == "Telemetry" {
			return fd
		}
		return nil
	}})
	var st Status
	if code := apiCall(t, http.MethodGet, f.base+"/status?format=json", "", nil, &st); code != 200 {
		t.Fatalf("/status %d", code)
	}
	d := st.Datasets[0].Drain
	want := "table ≥ 250,000 rows: 120 POSTs/hour"
	// 300 POSTs at 120 per rolling hour: the first 120 at once, then two more hours.
	if d == nil || d.BacklogRows != 300_000 || d.Posts != 300 || d.Binding != want || !d.LargeTier ||
		d.ETASeconds < 2*3600 || d.ETASeconds > 2*3600+60 {
		t.Fatalf("drain %+v", d)
	}
	resp, err := http.Get(f.base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	html, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(html), "binding limit: "+want) {
		t.Errorf("/status HTML lacks the binding limit:\n%s", html)
	}
}

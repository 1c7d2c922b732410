package httpsrc_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest/httpsrc"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

const (
	rowsURL  = "/v1.0/myorg/datasets/Sales/tables/Orders/rows"
	goodBody = `{"rows":[{"Name":"a","Value":1},{"Name":"b","Value":2}]}`
)

type pbiError struct {
	Error struct {
		Code    string
		Message string
		Details []struct{ Message, Target string }
	}
}

func TestPostRows(t *testing.T) {
	tests := []struct {
		name       string
		cfg        config.Source
		opts       func(e *env, o *httpsrc.Options)
		method     string
		path       string
		token      string
		body       string
		status     int
		code       string   // Power BI error code, for errors
		targets    []string // detail targets, for 400s
		retryAfter string
		spooled    int // rows in the spool after the answer

		contentType, encoding, origin string
	}{
		{name: "rows spooled", path: rowsURL, body: goodBody, status: 200, spooled: 2},
		{name: "in a group, dataset by id", path: "/v1.0/myorg/groups/g-1/datasets/ds-1/tables/Orders/rows", body: goodBody, status: 200, spooled: 2},
		{name: "empty rows", path: rowsURL, body: `{"rows":[]}`, status: 200},
		{name: "a bad row rejects the request", path: rowsURL, status: 400, code: "BadRequest",
			body:    `{"rows":[{"Name":"a","Value":1},{"Value":"x"},7,{"Name":"d"}]}`,
			targets: []string{"rows[1]", "rows[2]"}},
		{name: "not a rows object", path: rowsURL, body: `[{"Name":"a"}]`, status: 400, code: "BadRequest"},
		{name: "rows missing", path: rowsURL, body: `{"value":[]}`, status: 400, code: "BadRequest"},
		{name: "truncated JSON", path: rowsURL, body: `{"rows":[{"Name":"a"`, status: 400, code: "BadRequest"},
		{name: "unknown table", path: "/v1.0/myorg/datasets/Sales/tables/Nope/rows", body: goodBody, status: 404, code: "ItemNotFound"},
		{name: "table of another dataset", cfg: config.Source{Table: "Sales/Orders"},
			path: "/v1.0/myorg/datasets/Other/tables/Orders/rows", body: goodBody, status: 404, code: "ItemNotFound"},
		{name: "other path", path: "/v1.0/myorg/datasets", body: goodBody, status: 404, code: "NotFound"},
		{name: "GET", method: http.MethodGet, path: rowsURL, status: 405, code: "MethodNotAllowed"},
		{name: "token required", cfg: config.Source{Tokens: []string{"s3cret"}}, path: rowsURL, body: goodBody, status: 401, code: "Unauthorized"},
		{name: "wrong token", cfg: config.Source{Tokens: []string{"s3cret"}}, token: "s3cre", path: rowsURL, body: goodBody, status: 401, code: "Unauthorized"},
		{name: "second token accepted", cfg: config.Source{Tokens: []string{"s3cret", "other"}}, token: "other", path: rowsURL, body: goodBody, status: 200, spooled: 2},
		{name: "body too large", opts: func(_ *env, o *httpsrc.Options) { o.MaxBodyBytes = 20 }, path: rowsURL, body: goodBody, status: 413, code: "RequestEntityTooLarge"},
		{name: "spool full before the write", opts: func(_ *env, o *httpsrc.Options) { o.Full = func() bool { return true } },
			path: rowsURL, body: goodBody, status: 503, code: "ServiceUnavailable", retryAfter: "5"},
		{name: "spool write fails", opts: func(e *env, o *httpsrc.Options) { e.target.Writer = failWriter{} },
			path: rowsURL, body: goodBody, status: 500, code: "InternalServerError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, spool.Options{})
			opts := httpsrc.Options{Resolve: e.resolve}
			if tc.opts != nil {
				tc.opts(e, &opts)
			}
			srv := httptest.NewServer(newServer(t, tc.cfg, opts).Handler())
			defer srv.Close()
			req, err := http.NewRequest(cmpOr(tc.method, http.MethodPost), srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", cmpOr(tc.contentType, "application/json"))
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			checkAnswer(t, resp, tc.status, tc.code, tc.targets)
			if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if got := e.backlog(); got != tc.spooled {
				t.Errorf("spool holds %d rows, want %d", got, tc.spooled)
			}
		})
	}
}

func checkAnswer(t *testing.T, resp *http.Response, status int, code string, targets []string) {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if status == http.StatusOK {
		if len(body) != 0 {
			t.Errorf("200 with body %q, want empty", body)
		}
		return
	}
	var pe pbiError
	if err := json.Unmarshal(body, &pe); err != nil || pe.Error.Code != code || pe.Error.Message == "" {
		t.Fatalf("error body %s (%v), want code %q and a message", body, err, code)
	}
	var got []string
	for _, d := range pe.Error.Details {
		got = append(got, d.Target)
		if !strings.HasPrefix(d.Message, "row ") {
			t.Errorf("detail message %q does not name the row", d.Message)
		}
	}
	if strings.Join(got, ",") != strings.Join(targets, ",") {
		t.Errorf("detail targets %v, want %v", got, targets)
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestFullSpoolAnswers503: a real spool at its cap makes the write end with spool.ErrFull.
func TestFullSpoolAnswers503(t *testing.T) {
	e := newEnv(t, spool.Options{MaxBytes: 64})
	opts := httpsrc.Options{Resolve: e.resolve, WriteTimeout: 50 * time.Millisecond, RetryAfter: 1500 * time.Millisecond}
	srv := httptest.NewServer(newServer(t, config.Source{}, opts).Handler())
	defer srv.Close()
	checkAnswer(t, post(t, srv.URL+rowsURL, "", goodBody), 200, "", nil)
	big := `{"rows":[` + strings.Repeat(`{"Name":"xxxxxxxxxxxxxxxx"},`, 10) + `{"Name":"y"}]}`
	resp := post(t, srv.URL+rowsURL, "", big)
	if got := resp.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q, want 2", got)
	}
	checkAnswer(t, resp, 503, "ServiceUnavailable", nil)
	if got := e.backlog(); got != 2 {
		t.Errorf("spool holds %d rows, want the 2 of the first request", got)
	}
}

// TestAnswerOnlyAfterSpooled: the handler has not started its answer while the write is
// blocked, and when the client gets 200 the rows are already in the spool.
func TestAnswerOnlyAfterSpooled(t *testing.T) {
	e := newEnv(t, spool.Options{})
	gate := newGate(e.target.Writer)
	e.target.Writer = gate
	h := newServer(t, config.Source{}, httpsrc.Options{Resolve: e.resolve}).Handler()
	spy := make(chan *headerSpy, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &headerSpy{ResponseWriter: w}
		spy <- s
		h.ServeHTTP(s, r)
	}))
	defer srv.Close()
	answer := postAsync(srv.URL+rowsURL, goodBody)
	s := <-spy
	<-gate.entered
	answeredEarly, early := s.answered(), e.backlog()
	close(gate.release)
	resp := (<-answer).get(t)
	if answeredEarly {
		t.Error("the handler answered before the write returned")
	}
	if early != 0 {
		t.Errorf("spool holds %d rows before the write", early)
	}
	if n := e.backlog(); n != 2 {
		t.Errorf("spool holds %d rows when the client has its answer, want 2", n)
	}
	checkAnswer(t, resp, 200, "", nil)
}

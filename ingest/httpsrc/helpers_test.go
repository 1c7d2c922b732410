package httpsrc_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/ingest/httpsrc"
	"github.com/pbi-pusher/pbi-pusher/schema"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

var queue = spool.QueueKey{Dataset: "Sales", Table: "Orders"}

// env is a real spool, schema table and ingest.Writer behind one target.
type env struct {
	spool  *spool.Spool
	target httpsrc.Target
}

func newEnv(t testing.TB, opts spool.Options) *env {
	t.Helper()
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	tbl, err := schema.Compile(config.Table{Name: "Orders", Columns: []config.Column{
		{Name: "Name", Type: "String", Required: true},
		{Name: "Value", Type: "Int64"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	w := &ingest.Writer{Queue: queue, Table: tbl, Spool: sp}
	return &env{spool: sp, target: httpsrc.Target{Dataset: "Sales", Table: "Orders", Writer: w, Schema: tbl}}
}

// resolve accepts the dataset by name or by id "ds-1", and the second dataset "Other".
func (e *env) resolve(dataset, table string) (httpsrc.Target, bool) {
	switch {
	case (dataset == "Sales" || dataset == "ds-1") && table == "Orders":
		return e.target, true
	case dataset == "Other" && table == "Orders":
		o := e.target
		o.Dataset = "Other"
		return o, true
	}
	return httpsrc.Target{}, false
}

func (e *env) backlog() int { return e.spool.Backlog(queue).Rows }

func newServer(t testing.TB, cfg config.Source, opts httpsrc.Options) *httpsrc.Server {
	t.Helper()
	s, err := httpsrc.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gateWriter blocks the first Write until released; every Write is passed on.
type gateWriter struct {
	next    httpsrc.RecordWriter
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate(next httpsrc.RecordWriter) *gateWriter {
	return &gateWriter{next: next, entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gateWriter) Write(ctx context.Context, src string, recs []ingest.Record, cps map[string][]byte) (ingest.Result, error) {
	first := false
	g.once.Do(func() { first = true; close(g.entered) })
	if first {
		select {
		case <-g.release:
		case <-ctx.Done():
			return ingest.Result{}, ctx.Err()
		}
	}
	return g.next.Write(ctx, src, recs, cps)
}

// failWriter fails every Write.
type failWriter struct{}

func (failWriter) Write(context.Context, string, []ingest.Record, map[string][]byte) (ingest.Result, error) {
	return ingest.Result{}, errors.New("disk on fire")
}

// headerSpy records whether the handler has started its answer.
type headerSpy struct {
	http.ResponseWriter
	mu      sync.Mutex
	written bool
}

func (h *headerSpy) WriteHeader(code int) {
	h.mu.Lock()
	h.written = true
	h.mu.Unlock()
	h.ResponseWriter.WriteHeader(code)
}

func (h *headerSpy) Write(b []byte) (int, error) {
	h.mu.Lock()
	h.written = true
	h.mu.Unlock()
	return h.ResponseWriter.Write(b)
}

func (h *headerSpy) answered() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.written
}

func post(t *testing.T, url, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// result is the outcome of a request made in another goroutine.
type result struct {
	resp *http.Response
	err  error
}

func (r result) get(t *testing.T) *http.Response {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.resp
}

// postAsync posts body to url in a goroutine.
func postAsync(url, body string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		ch <- result{resp, err}
	}()
	return ch
}

func postWithToken(url, token, body string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

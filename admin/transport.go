package admin

import (
	"net/http"
	"strings"
	"time"
)

// Transport wraps rt (nil = http.DefaultTransport) so that every POST rows request
// (POST …/tables/{table}/rows) is counted by status code, 429s are counted, its latency is
// observed and in-flight requests are gauged. Other requests pass through uncounted.
func (m *Metrics) Transport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &transport{next: rt, m: m}
}

// HTTPClient returns a shallow copy of hc (nil = a zero client) whose transport is wrapped by
// Transport. Pass it as sink.Options.HTTPClient / pipeline.Options.HTTPClient.
func (m *Metrics) HTTPClient(hc *http.Client) *http.Client {
	out := &http.Client{}
	if hc != nil {
		c := *hc
		out = &c
	}
	out.Transport = m.Transport(out.Transport)
	return out
}

type transport struct {
	next http.RoundTripper
	m    *Metrics
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !isPostRows(req) {
		return t.next.RoundTrip(req)
	}
	t.m.posts.inFlight.Add(1)
	defer t.m.posts.inFlight.Add(-1)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.m.latency.Observe(time.Since(start).Seconds())
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	t.m.posts.add(status)
	return resp, err
}

func isPostRows(req *http.Request) bool {
	return req.Method == http.MethodPost && req.URL != nil &&
		strings.HasSuffix(strings.TrimRight(req.URL.Path, "/"), "/rows") &&
		strings.Contains(req.URL.Path, "/tables/")
}

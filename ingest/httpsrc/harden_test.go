package httpsrc_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest/httpsrc"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

func gz(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.String()
}

// rowsBody is a rows body of n good rows.
func rowsBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"rows":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Name":"r%d","Value":%d}`, i, i)
	}
	b.WriteString("]}")
	return b.String()
}

// counts records Options.Rejected calls.
type counts struct {
	mu   sync.Mutex
	reqs map[string]int
	rows map[string]int
}

func (c *counts) add(reason string, rows int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reqs == nil {
		c.reqs, c.rows = map[string]int{}, map[string]int{}
	}
	c.reqs[reason]++
	c.rows[reason] += rows
}

// goTypeName matches what encoding/json puts in its type errors.
var goTypeName = regexp.MustCompile(`Go (value|struct)|interface \{\}|map\[string\]|json\.RawMessage|\[\]json|httpsrc\.|unmarshal`)

func TestIngestHardening(t *testing.T) {
	tests := []struct {
		name, contentType, encoding, origin, body string
		cfg                                       config.Source
		status                                    int
		code, reason                              string
		rejectedRows, spooled                     int
	}{
		{name: "text/plain refused", contentType: "text/plain", body: goodBody, status: 415, code: "UnsupportedMediaType", reason: httpsrc.ReasonMediaType},
		{name: "form refused", contentType: "application/x-www-form-urlencoded", body: goodBody, status: 415, code: "UnsupportedMediaType", reason: httpsrc.ReasonMediaType},
		{name: "json with charset", contentType: "application/json; charset=utf-8", body: goodBody, status: 200, spooled: 2},
		{name: "foreign origin refused", origin: "https://evil.example", body: goodBody, status: 403, code: "Forbidden", reason: httpsrc.ReasonOrigin},
		{name: "foreign origin text/plain refused", origin: "https://evil.example", contentType: "text/plain", body: goodBody, status: 403, code: "Forbidden", reason: httpsrc.ReasonOrigin},
		{name: "listed origin accepted", origin: "https://app.example", cfg: config.Source{AllowedOrigins: []string{"https://app.example"}}, body: goodBody, status: 200, spooled: 2},
		{name: "gzip accepted", encoding: "gzip", body: gz(goodBody), status: 200, spooled: 2},
		{name: "broken gzip", encoding: "gzip", body: "not gzip", status: 400, code: "BadRequest", reason: httpsrc.ReasonMalformed},
		{name: "unknown encoding", encoding: "br", body: goodBody, status: 415, code: "UnsupportedMediaType", reason: httpsrc.ReasonMediaType},
		{name: "10,000 rows accepted", body: rowsBody(10000), status: 200, spooled: 10000},
		{name: "10,001 rows refused", body: rowsBody(10001), status: 400, code: "BadRequest", reason: httpsrc.ReasonTooManyRows, rejectedRows: 10001},
		{name: "10,001 gzipped rows refused", encoding: "gzip", body: gz(rowsBody(10001)), status: 400, code: "BadRequest", reason: httpsrc.ReasonTooManyRows, rejectedRows: 10001},
		{name: "invalid UTF-8 row", body: "{\"rows\":[{\"Name\":\"M\xfcller\"}]}", status: 400, code: "BadRequest", reason: httpsrc.ReasonSchema, rejectedRows: 1},
		{name: "rows not an array", body: `{"rows":{"Name":"a"}}`, status: 400, code: "BadRequest", reason: httpsrc.ReasonMalformed},
		{name: "rows a string", body: `{"rows":"x"}`, status: 400, code: "BadRequest", reason: httpsrc.ReasonMalformed},
		{name: "body an array", body: `[1,2]`, status: 400, code: "BadRequest", reason: httpsrc.ReasonMalformed},
		{name: "body a number", body: `12`, status: 400, code: "BadRequest", reason: httpsrc.ReasonMalformed},
		{name: "trailing data", body: goodBody + `{}`, status: 400, code: "BadRequest", reason: httpsrc.ReasonMalformed},
		{name: "row of wrong type", body: `{"rows":[[1],"s",null]}`, status: 400, code: "BadRequest", reason: httpsrc.ReasonSchema, rejectedRows: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, spool.Options{})
			var c counts
			srv := httptest.NewServer(newServer(t, tc.cfg, httpsrc.Options{Resolve: e.resolve, Rejected: c.add}).Handler())
			defer srv.Close()
			req, err := http.NewRequest(http.MethodPost, srv.URL+rowsURL, strings.NewReader(tc.body))
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
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status != 200 {
				var pe pbiError
				if err := json.Unmarshal(body, &pe); err != nil || pe.Error.Code != tc.code || pe.Error.Message == "" {
					t.Fatalf("body %s, want Power BI error code %s", body, tc.code)
				}
				if goTypeName.Match(body) {
					t.Errorf("answer names Go types: %s", body)
				}
			}
			if tc.origin != "" && tc.status == 200 && resp.Header.Get("Access-Control-Allow-Origin") != tc.origin {
				t.Errorf("Access-Control-Allow-Origin %q", resp.Header.Get("Access-Control-Allow-Origin"))
			}
			if tc.reason != "" && (c.reqs[tc.reason] != 1 || c.rows[tc.reason] != tc.rejectedRows) {
				t.Errorf("rejections %v rows %v, want 1 %s with %d rows", c.reqs, c.rows, tc.reason, tc.rejectedRows)
			}
			if got := e.backlog(); got != tc.spooled {
				t.Errorf("spool holds %d rows, want %d", got, tc.spooled)
			}
		})
	}
}

func TestUTF8DetailNamesOffset(t *testing.T) {
	e := newEnv(t, spool.Options{})
	srv := httptest.NewServer(newServer(t, config.Source{}, httpsrc.Options{Resolve: e.resolve}).Handler())
	defer srv.Close()
	body := "{\"rows\":[{\"Name\":\"ok\"},{\"Name\":\"M\xfcller\"}]}"
	resp := post(t, srv.URL+rowsURL, "", body)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf("offset %d", strings.IndexByte(body, 0xfc))
	if resp.StatusCode != 400 || !strings.Contains(string(b), "rows[1]") || !strings.Contains(string(b), want) {
		t.Fatalf("%d %s; want 400 naming rows[1] and %s", resp.StatusCode, b, want)
	}
	if strings.Contains(string(b), "\ufffd") {
		t.Errorf("answer holds U+FFFD: %s", b)
	}
}

func TestPreflightOfListedOrigin(t *testing.T) {
	e := newEnv(t, spool.Options{})
	srv := httptest.NewServer(newServer(t, config.Source{AllowedOrigins: []string{"https://app.example"}}, httpsrc.Options{Resolve: e.resolve}).Handler())
	defer srv.Close()
	for origin, want := range map[string]int{"https://app.example": 204, "https://evil.example": 403} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+rowsURL, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("preflight from %s: %d, want %d", origin, resp.StatusCode, want)
		}
	}
}

// stall opens a connection, sends the headers and half a body, then sends nothing more.
func stall(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"rows\":[{\"Name\":\"a\"},", rowsURL)
	return conn
}

// TestStalledProducersDoNotBlockOthers: 20 producers that stall mid-body (more than the 16
// request slots) do not delay a valid request, with the default 30 s read timeout.
func TestStalledProducersDoNotBlockOthers(t *testing.T) {
	e := newEnv(t, spool.Options{})
	srv := httptest.NewServer(newServer(t, config.Source{}, httpsrc.Options{Resolve: e.resolve}).Handler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for range 20 {
		c := stall(t, addr)
		defer c.Close()
	}
	time.Sleep(100 * time.Millisecond) // let the server start reading every stalled body
	start := time.Now()
	resp := post(t, srv.URL+rowsURL, "", goodBody)
	checkAnswer(t, resp, 200, "", nil)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("valid request answered after %s, want within 2s", d)
	}
}

// TestStalledBodyTimesOut: a body not received within read_timeout is answered 408 and counted.
func TestStalledBodyTimesOut(t *testing.T) {
	e := newEnv(t, spool.Options{})
	var c counts
	srv := httptest.NewServer(newServer(t, config.Source{ReadTimeout: config.Duration(300 * time.Millisecond)},
		httpsrc.Options{Resolve: e.resolve, Rejected: c.add}).Handler())
	defer srv.Close()
	conn := stall(t, strings.TrimPrefix(srv.URL, "http://"))
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || c.reqs[httpsrc.ReasonTimeout] != 1 {
		t.Fatalf("status %d, rejections %v; want 408 counted as timeout", resp.StatusCode, c.reqs)
	}
}

package emulator_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// clock is a virtual clock for the rolling windows.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// reply is one HTTP response, read fully.
type reply struct {
	status     int
	header     http.Header
	body       []byte
	code       string // error.code, if any
	retryAfter string
}

// call sends method path (relative to the REST base unless it starts with "/") with body
// and bearer token (none when token is "").
func call(t testing.TB, e *emulatortest.Emulator, method, path, body, token string) reply {
	t.Helper()
	url := e.URL + "/" + path
	if strings.HasPrefix(path, "/") {
		url = e.Root + path
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: b, retryAfter: resp.Header.Get("Retry-After")}
	var eb struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &eb) == nil {
		r.code = eb.Error.Code
	}
	return r
}

const salesSchema = `{"name":"Sales","columns":[{"name":"Id","dataType":"Int64"},{"name":"Value","dataType":"Double"},` +
	`{"name":"Ok","dataType":"bool"},{"name":"At","dataType":"DateTime"},{"name":"Name","dataType":"string"},` +
	`{"name":"Amount","dataType":"Decimal"}]}`

func fixtureBody(name string) string {
	return `{"name":"` + name + `","defaultMode":"Push","tables":[` + salesSchema +
		`,{"name":"Other","columns":[{"name":"X","dataType":"Int64"}]}]}`
}

// create creates a dataset and returns its id.
func create(t testing.TB, e *emulatortest.Emulator, path, body string) string {
	t.Helper()
	r := call(t, e, "POST", path, body, e.Token)
	if r.status != http.StatusCreated {
		t.Fatalf("create dataset: %d %s", r.status, r.body)
	}
	var d struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(r.body, &d); err != nil || d.ID == "" {
		t.Fatalf("create dataset: bad body %s", r.body)
	}
	return d.ID
}

// rows returns a POST rows body of n rows of the Sales table.
func rows(n int) string {
	var b strings.Builder
	b.WriteString(`{"rows":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Id":%d,"Value":%d.5,"Ok":true,"At":"2026-01-01T00:00:00Z","Name":"row %d","Amount":1.25}`, i, i, i)
	}
	b.WriteString("]}")
	return b.String()
}

// row returns a one-row body with the given JSON fields.
func row(fields string) string { return `{"rows":[{` + fields + `}]}` }

func decodeJSON(t testing.TB, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", resp.Request.URL.Path, err)
	}
}

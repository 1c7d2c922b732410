package emulator_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
)

// chromiumPath returns Debian's chromium, skipping the test when it is absent outside CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (.ci/run installs Debian's chromium)")
	}
	t.Skip("chromium not installed")
	return ""
}

// browse loads url in headless chromium and returns the rendered DOM and chromium's log.
// With screenshot set it writes a PNG there instead of dumping the DOM.
func browse(t *testing.T, url, screenshot string) (dom, logs string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
		"--virtual-time-budget=5000", "--window-size=1280,1000"}
	if screenshot != "" {
		args = append(args, "--screenshot="+screenshot)
	} else {
		args = append(args, "--dump-dom")
	}
	cmd := exec.CommandContext(ctx, chromiumPath(t), append(args, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// consoleLines returns the page's console messages from chromium's log. The emulator page
// writes nothing to the console, so any message (errors, uncaught exceptions, CORS and
// mixed-content reports all land here) is a failure.
func consoleLines(logs string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, ":CONSOLE") {
			out = append(out, l)
		}
	}
	return out
}

// statusRecorder remembers every request the browser made and its status.
type statusRecorder struct {
	h    http.Handler
	mu   sync.Mutex
	seen []string
}

func (s *statusRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.h.ServeHTTP(sw, r)
	s.mu.Lock()
	s.seen = append(s.seen, fmt.Sprintf("%d %s", sw.status, r.URL.Path))
	s.mu.Unlock()
}

func (s *statusRecorder) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

func TestWebPageInBrowser(t *testing.T) {
	chromiumPath(t)
	srv := emulator.New(emulator.Options{Tokens: []string{"tok"}})
	rec := &statusRecorder{h: srv}
	hs := httptest.NewServer(rec)
	defer hs.Close()
	id := seedBrowserData(t, hs.URL)
	before := len(rec.requests())

	dom, logs := browse(t, hs.URL+"/", "")
	if !strings.Contains(dom, `data-name="Browser Demo"`) {
		t.Errorf("page does not show the dataset; DOM:\n%.2000s", dom)
	}
	count := regexp.MustCompile(`id="count-` + id + `-Readings" data-rows="37"`)
	if !count.MatchString(dom) {
		t.Errorf("page does not show 37 rows for Readings; DOM:\n%.3000s", dom)
	}
	if !strings.Contains(dom, "reading-36") || !strings.Contains(dom, "<svg") {
		t.Errorf("page misses the latest rows or the chart")
	}
	if lines := consoleLines(logs); len(lines) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(lines, "\n"))
	}
	checkBrowserRequests(t, rec.requests()[before:])

	shot := filepath.Join(t.TempDir(), "page.png")
	browse(t, hs.URL+"/", shot)
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) || len(png) < 1000 {
		t.Fatalf("screenshot %s missing or not a PNG (%d bytes, %v)", shot, len(png), err)
	}
	t.Logf("screenshot: %s", shot)
}

// checkBrowserRequests asserts the page fetched stats and rows and nothing failed.
func checkBrowserRequests(t *testing.T, reqs []string) {
	t.Helper()
	joined := strings.Join(reqs, "\n")
	for _, want := range []string{"200 /emulator/stats", "/tables/Readings/rows"} {
		if !strings.Contains(joined, want) {
			t.Errorf("browser never requested %q; requests:\n%s", want, joined)
		}
	}
	for _, r := range reqs {
		if !strings.HasPrefix(r, "200 ") {
			t.Errorf("browser request failed: %s", r)
		}
	}
}

// seedBrowserData creates dataset "Browser Demo" with 37 rows in Readings and returns its id.
func seedBrowserData(t *testing.T, root string) string {
	t.Helper()
	do := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, root+"/v1.0/myorg"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := do("POST", "/datasets", `{"name":"Browser Demo","tables":[{"name":"Readings","columns":[`+
		`{"name":"Sensor","dataType":"string"},{"name":"Value","dataType":"Double"},{"name":"At","dataType":"DateTime"}]}]}`)
	var d struct{ ID string }
	decodeJSON(t, resp, &d)
	var b strings.Builder
	for i := range 37 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Sensor":"reading-%d","Value":%d.25,"At":"2026-01-01T00:00:%02dZ"}`, i, i, i)
	}
	resp = do("POST", "/datasets/"+d.ID+"/tables/Readings/rows", `{"rows":[`+b.String()+`]}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("post rows: %d", resp.StatusCode)
	}
	return d.ID
}

func TestBrowserCheckDetectsConsoleErrors(t *testing.T) {
	chromiumPath(t)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><link rel="icon" href="data:,"><p>x</p><script>console.error("broken page")</script>`)
	}))
	defer hs.Close()
	_, logs := browse(t, hs.URL+"/", "")
	if lines := consoleLines(logs); len(lines) != 1 || !strings.Contains(lines[0], "broken page") {
		t.Fatalf("console error not detected; got %q", lines)
	}
}

// TestWebPageShowsValuesAsStored (issue 14): the page shows rejection reasons, strings as stored
// (spaces kept, "" apart from null), counters that add up, and this minute's rows in the
// rightmost bar.
func TestWebPageShowsValuesAsStored(t *testing.T) {
	chromiumPath(t)
	// The emulator's clock stands still at 12:34:56, so the rows land in the minute the page
	// must draw rightmost however long chromium takes to start.
	fixed := time.Date(2026, 3, 4, 12, 34, 56, 0, time.UTC)
	srv := emulator.New(emulator.Options{Tokens: []string{"tok"}, Now: func() time.Time { return fixed }})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	do := func(method, path, body string) int {
		req, _ := http.NewRequest(method, hs.URL+"/v1.0/myorg"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do("POST", "/datasets", `{"name":"Values","tables":[{"name":"T","columns":[`+
		`{"name":"S","dataType":"String"},{"name":"N","dataType":"Double"}]}]}`); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("create: %d", code)
	}
	id := srv.DatasetsByName("Values")[0].ID
	if code := do("POST", "/datasets/"+id+"/tables/T/rows", `{"rows":[{"S":"  two  spaces  ","N":1},{"S":"","N":2},{"S":null,"N":3},{"N":4}]}`); code != 200 {
		t.Fatalf("post rows: %d", code)
	}
	if code := do("POST", "/datasets/"+id+"/tables/T/rows", `{"rows":[{"S":"x","N":"not a number"}]}`); code != http.StatusBadRequest {
		t.Fatalf("bad row: %d, want 400", code)
	}
	dom, logs := browse(t, hs.URL+"/", "")
	for _, want := range []string{
		`<td class="str" title="&quot;  two  spaces  &quot;">  two  spaces  </td>`,
		`<td class="empty-string">""</td>`,
		`<td class="null">null</td>`,
		`data-rejection="T"`,
		`data-counter="posts-total" data-value="2"`, `data-counter="posts-stored" data-value="1"`, `data-counter="posts-rejected" data-value="1"`,
		`data-counter="rows-accepted" data-value="4"`, `data-counter="rows-stored" data-value="4"`,
		`data-counter="posts-minute" data-value="2"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %s", want)
		}
	}
	if !regexp.MustCompile(`data-rejection="T">[^<]*T: [^<]*not a number|data-rejection="T">[^<]*T: [^<]*N`).MatchString(dom) {
		t.Errorf("the rejection reason is not shown")
	}
	last := regexp.MustCompile(`<rect class="bar current"[^>]*data-minute="([^"]+)" data-rows="(\d+)"`).FindStringSubmatch(dom)
	if last == nil || last[1] != "2026-03-04T12:34:00.000Z" || last[2] != "4" {
		t.Errorf("the rightmost (current minute) bar = %v, want the 4 rows just stored", last)
	}
	if lines := consoleLines(logs); len(lines) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(lines, "\n"))
	}
	if t.Failed() {
		t.Logf("DOM:\n%.6000s", dom)
	}
}

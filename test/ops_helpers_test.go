package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// opsProc is a pbi-pusher process running in the background, its stdout and stderr in files.
type opsProc struct {
	t          *testing.T
	cmd        *exec.Cmd
	outPath    string
	errPath    string
	done       chan struct{}
	code       int
	started    time.Time
	exitedAt   time.Time
	signalled  time.Time
	waitErrMsg string
}

// opsStart starts the binary with args and extra env; the process is killed at cleanup if it
// is still running.
func opsStart(t *testing.T, env []string, args ...string) *opsProc {
	t.Helper()
	dir := t.TempDir()
	p := &opsProc{t: t, outPath: filepath.Join(dir, "stdout"), errPath: filepath.Join(dir, "stderr"), done: make(chan struct{})}
	out, err := os.Create(p.outPath)
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(p.errPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = out, errf
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start pbi-pusher %v: %v", args, err)
	}
	p.started = time.Now()
	go func() {
		err := p.cmd.Wait()
		p.exitedAt = time.Now()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code, p.waitErrMsg = -1, err.Error()
		}
		_ = out.Close()
		_ = errf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		stdout, _ := os.ReadFile(p.outPath)
		captureOutput(t, stdout, []byte(p.stderr())) // for the secret scan in TestMain
		if t.Failed() {
			t.Logf("pbi-pusher %v stderr (tail):\n%s", args, tail(p.stderr(), 30))
		}
	})
	return p
}

// signal sends sig and remembers when (for exit-time measurements).
func (p *opsProc) signal(sig syscall.Signal) {
	p.t.Helper()
	p.signalled = time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits up to timeout for the process to exit and returns its exit code.
func (p *opsProc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		if p.waitErrMsg != "" {
			p.t.Fatalf("wait: %s", p.waitErrMsg)
		}
		return p.code
	case <-time.After(timeout):
		p.t.Fatalf("pbi-pusher did not exit within %s\nstderr:\n%s", timeout, tail(p.stderr(), 30))
		return -1
	}
}

func (p *opsProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *opsProc) stderr() string {
	b, _ := os.ReadFile(p.errPath)
	return string(b)
}

// logLines returns the JSON log lines written so far (non-JSON lines are skipped).
func (p *opsProc) logLines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.stderr()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// waitLog waits for the n-th (1-based) JSON log line whose msg is msg and returns it.
func (p *opsProc) waitLog(msg string, n int, timeout time.Duration) map[string]any {
	p.t.Helper()
	var got map[string]any
	opsEventually(p.t, timeout, "log line "+msg, func() bool {
		k := 0
		for _, l := range p.logLines() {
			if l["msg"] == msg {
				if k++; k == n {
					got = l
					return true
				}
			}
		}
		if !p.running() {
			p.t.Fatalf("pbi-pusher exited (code %d) before logging %q\nstderr:\n%s", p.code, msg, tail(p.stderr(), 30))
		}
		return false
	})
	return got
}

// adminURL waits for the admin server's listening line and returns its base URL.
func (p *opsProc) adminURL(timeout time.Duration) string {
	p.t.Helper()
	l := p.waitLog("admin server listening", 1, timeout)
	addr, _ := l["addr"].(string)
	if addr == "" {
		p.t.Fatalf("admin listening line without addr: %v", l)
	}
	return "http://" + addr
}

// opsEventually polls cond every 20 ms until it holds or the timeout passes.
func opsEventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var opsHTTP = &http.Client{Timeout: 5 * time.Second}

// opsGet returns the status code and body of GET url.
func opsGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := opsHTTP.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	return resp.StatusCode, b
}

// opsMetrics scrapes /metrics and parses it with the Prometheus text parser.
func opsMetrics(t *testing.T, base string) opsFamilies {
	t.Helper()
	code, body := opsGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

type opsFamilies map[string]*dto.MetricFamily

// value is the value of the sample of family name whose labels include want ("k=v" pairs);
// ok is false when there is none. Counters, gauges and untyped metrics are read; a histogram
// gives its sample count.
func (f opsFamilies) value(name string, want ...string) (float64, bool) {
	fam := f["pbi_pusher_"+name]
	if fam == nil {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		for _, w := range want {
			k, v, _ := strings.Cut(w, "=")
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// must is value that fails the test when the sample is absent.
func (f opsFamilies) must(t *testing.T, name string, want ...string) float64 {
	t.Helper()
	v, ok := f.value(name, want...)
	if !ok {
		t.Fatalf("/metrics lacks pbi_pusher_%s%v", name, want)
	}
	return v
}

// opsStatus is the part of /status the tests read.
type opsStatus struct {
	Ready bool `json:"ready"`
	Posts struct {
		ByCode   map[string]int64 `json:"by_code"`
		InFlight int64            `json:"in_flight"`
	} `json:"posts"`
	Datasets []struct {
		Name        string `json:"name"`
		RowsPerHour int    `json:"rows_per_hour"`
		Budget      *struct {
			RowsThisHour     int     `json:"rows_this_hour"`
			RowsLeftThisHour int     `json:"rows_left_this_hour"`
			InFlight         int     `json:"in_flight"`
			MaxInFlight      int     `json:"max_in_flight"`
			Multiplier       float64 `json:"multiplier"`
		} `json:"budget"`
		Tables []struct {
			Name        string `json:"name"`
			Delivered   int64  `json:"delivered"`
			BacklogRows int    `json:"backlog_rows"`
		} `json:"tables"`
	} `json:"datasets"`
}

func opsGetStatus(t *testing.T, base string) opsStatus {
	t.Helper()
	code, body := opsGet(t, base+"/status?format=json")
	if code != http.StatusOK {
		t.Fatalf("/status: %d %s", code, body)
	}
	var st opsStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	return st
}

// opsConfig is a run config: one dataset Telemetry (table Readings, the rows_test columns) fed
// by a followed JSONL file.
type opsConfig struct {
	APIURL          string
	Spool           string
	Input           string // the followed file
	RowsPerPost     int
	PostsPerMinute  int
	RowsPerHour     int
	Pending         int
	ShutdownTimeout string
	Linger          string
}

func (c opsConfig) yaml() string {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.RowsPerPost, 500)
	def(&c.PostsPerMinute, 120)
	def(&c.RowsPerHour, 1_000_000)
	def(&c.Pending, 5)
	if c.ShutdownTimeout == "" {
		c.ShutdownTimeout = "5s"
	}
	if c.Linger == "" {
		c.Linger = "50ms"
	}
	return fmt.Sprintf(`powerbi:
  api_url: %s
auth:
  method: static_token
  token: ${E2E_TOKEN}
spool:
  path: %s
batch:
  linger: %s
admin:
  listen: 127.0.0.1:0
log:
  format: json
  level: info
shutdown_timeout: %s
%ssources:
  - type: file
    table: Telemetry/Readings
    paths: [%s]
    follow: true
`, c.APIURL, c.Spool, c.Linger, c.ShutdownTimeout,
		datasetsYAML(limits{c.RowsPerPost, c.PostsPerMinute, c.RowsPerHour, c.Pending}), c.Input)
}

// opsWriteConfig writes c to dir/config.yaml (atomically, for reloads) and returns its path.
func opsWriteConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// opsAppendJSONL appends rows to path (created if absent) in complete lines.
func opsAppendJSONL(t *testing.T, path string, rows []row) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, r := range rows {
		if err := enc.Encode(map[string]any{"Seq": r.Seq, "Device": r.Device, "At": r.At.Format(time.RFC3339Nano), "Value": r.Value, "Ok": r.Ok}); err != nil {
			t.Fatal(err)
		}
	}
	opsAppend(t, path, b.Bytes())
}

func opsAppend(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

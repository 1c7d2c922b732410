package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// lateEmulator is a Power BI emulator whose address is known (and configured) up front but
// which listens only once start is called: Power BI unreachable at pbi-pusher's start.
type lateEmulator struct {
	*emulatortest.Emulator
	addr string
}

func newLateEmulator(t *testing.T, l limits) *lateEmulator {
	t.Helper()
	addr := ingestFreePort(t)
	srv := emulator.New(emulator.Options{RowsPerPost: l.rowsPerPost, PostsPerMinute: l.postsPerMinute,
		RowsPerHour: l.rowsPerHour, PendingPosts: l.pending, Tokens: []string{emulatortest.DefaultToken}})
	return &lateEmulator{addr: addr, Emulator: &emulatortest.Emulator{URL: "http://" + addr + "/v1.0/myorg",
		Root: "http://" + addr, Token: emulatortest.DefaultToken, Server: srv}}
}

// start listens on the emulator's address (retrying briefly if a connect attempt holds it).
func (e *lateEmulator) start(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", e.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("emulator listen %s: %v", e.addr, err)
	}
	hs := &http.Server{Handler: e.Server, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
}

// jsonLogs parses pbi-pusher's JSON log lines.
func jsonLogs(stderr string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// checkOutageLogs asserts the log of one outage: exactly one WARN (the transition to failing,
// naming the cause) and one INFO for the recovery with its length and the rows that waited.
func checkOutageLogs(t *testing.T, stderr string) {
	t.Helper()
	var warns, recovered []map[string]any
	for _, l := range jsonLogs(stderr) {
		switch {
		case l["level"] == "WARN" || l["level"] == "ERROR":
			warns = append(warns, l)
		case l["msg"] == "Power BI recovered":
			recovered = append(recovered, l)
		}
	}
	if len(warns) != 1 || warns[0]["msg"] != "Power BI failing" || !strings.Contains(fmt.Sprint(warns[0]["reason"]), "connection refused") {
		t.Errorf("want exactly one WARN \"Power BI failing\" naming the cause, got %d WARN/ERROR lines: %v", len(warns), warns)
	}
	if len(recovered) != 1 {
		t.Fatalf("want exactly one INFO \"Power BI recovered\", got %d", len(recovered))
	}
	r := recovered[0]
	outage, err := time.ParseDuration(fmt.Sprint(r["outage"]))
	if err != nil || outage < 25*time.Second {
		t.Errorf("recovery line outage %v (%v), want about 30s", r["outage"], err)
	}
	if w, _ := r["rows_waiting"].(float64); w <= 0 {
		t.Errorf("recovery line rows_waiting = %v, want the rows spooled during the outage", r["rows_waiting"])
	}
	t.Logf("outage logged: WARN %q reason=%q; INFO outage=%v rows_waiting=%v", warns[0]["msg"], warns[0]["reason"], r["outage"], r["rows_waiting"])
}

// TestRunStartsWithoutPowerBI (issue 11, acceptance 1): `run` starts while the service is not
// listening; HTTP ingest answers 200 for 10,000 rows within 5 s and /readyz is 200 (the sink
// state is reported apart: sink_up 0); the service starts 30 s later on the same address; every
// row is delivered exactly once; one WARN for the outage, one INFO for the recovery.
func TestRunStartsWithoutPowerBI(t *testing.T) {
	t.Parallel()
	l := limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	emu := newLateEmulator(t, l)
	dir := t.TempDir()
	src, env, url := ingestHTTPSource(t)
	cfg := ingestConfig(t, dir, emu.Emulator, l, src)

	start := time.Now()
	p := ingestStart(t, "outage-run", cfg, env...)
	want := genRows(7_000_000, 10_000)
	for i := 0; i < len(want); i += 1000 {
		if code := ingestPostRows(t, p, url, want[i:i+1000], -1, nil); code != http.StatusOK {
			t.Fatalf("rows %d..: HTTP %d, want 200 while Power BI is unreachable", i, code)
		}
	}
	took := time.Since(start)
	admin := "http://" + p.adminAddr(t)
	if code, body := opsGet(t, admin+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %s while accepting input, want 200", code, body)
	}
	if took > 5*time.Second {
		t.Errorf("10,000 rows answered 200 %s after start, want within 5s", took)
	}
	st := opsGetSinkStatus(t, admin)
	m := opsMetrics(t, admin)
	if up := m.must(t, "sink_up", "dataset=Telemetry"); up != 0 || st["Telemetry"].State == "up" {
		t.Errorf("sink_up = %v, /status sink %+v while Power BI is unreachable", up, st["Telemetry"])
	}
	t.Logf("10,000 rows answered 200 within %s of start; /readyz 200; sink %q: %s", took.Round(time.Millisecond),
		st["Telemetry"].State, st["Telemetry"].Reason)

	time.Sleep(time.Until(start.Add(30 * time.Second)))
	emu.start(t)
	ingestAwaitDistinct(t, emu.Emulator, len(want), 60*time.Second, p)
	m = opsMetrics(t, admin)
	if up := m.must(t, "sink_up", "dataset=Telemetry"); up != 1 {
		t.Errorf("sink_up = %v after the recovery, want 1", up)
	}
	if ts := m.must(t, "sink_last_success_timestamp_seconds", "dataset=Telemetry"); ts < float64(start.Unix()) {
		t.Errorf("sink_last_success_timestamp_seconds = %v, want after the start", ts)
	}
	p.term(t)
	rows, _ := ingestRows(t, emu.Emulator)
	checkDelivered(t, want, rows)
	checkOutageLogs(t, p.stderr())
}

// TestBackfillWaitsForPowerBI (issue 11, acceptance 1, backfill): the backfill reads its file into
// the spool while the service is unreachable, shows "waiting for Power BI" in its progress, and
// once the service starts 30 s later delivers every row exactly once and exits 0.
func TestBackfillWaitsForPowerBI(t *testing.T) {
	t.Parallel()
	l := limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	emu := newLateEmulator(t, l)
	dir := t.TempDir()
	want := genRows(8_000_000, 10_000)
	in := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, in, want)
	cfg := ingestConfig(t, dir, emu.Emulator, l, "")
	start := time.Now()
	p := opsStart(t, []string{"E2E_TOKEN=" + emulatortest.DefaultToken}, "backfill", "-config", cfg, "-table", "Telemetry/Readings", in)
	// Reading goes on while Power BI is unreachable: the progress reports every row read.
	var waiting map[string]any
	opsEventually(t, 25*time.Second, "a progress line with every row read, waiting for Power BI", func() bool {
		for _, l := range p.logLines() {
			if l["msg"] == "backfill progress" && l["read"] == float64(len(want)) && strings.HasPrefix(fmt.Sprint(l["waiting"]), "waiting for Power BI: ") {
				waiting = l
				return true
			}
		}
		if !p.running() {
			t.Fatalf("backfill exited (code %d) while Power BI was unreachable", p.code)
		}
		return false
	})
	t.Logf("progress while unreachable: read=%v delivered=%v %v", waiting["read"], waiting["delivered"], waiting["waiting"])
	time.Sleep(time.Until(start.Add(30 * time.Second)))
	emu.start(t)
	if code := p.wait(90 * time.Second); code != 0 {
		t.Fatalf("backfill exit code %d, want 0", code)
	}
	st := datasetStats(t, emu.Emulator)
	checkDelivered(t, want, emu.Server.Rows(st.ID, "Readings"))
	checkOutageLogs(t, p.stderr())
}

// TestBackfillGivesUpAfter: -give-up-after ends a backfill whose service never answers with
// exit 1 and the reason; the rows read stay spooled.
func TestBackfillGivesUpAfter(t *testing.T) {
	t.Parallel()
	l := limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	emu := newLateEmulator(t, l) // never started
	dir := t.TempDir()
	in := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, in, genRows(0, 100))
	cfg := ingestConfig(t, dir, emu.Emulator, l, "")
	res := runBinary(t, 30*time.Second, []string{"E2E_TOKEN=" + emulatortest.DefaultToken},
		"backfill", "-config", cfg, "-table", "Telemetry/Readings", "-give-up-after", "3s", in)
	if res.code != 1 || !strings.Contains(res.stderr, "gave up waiting for Power BI after 3s") || !strings.Contains(res.stderr, "connection refused") {
		t.Fatalf("exit %d, want 1 with the reason\nstderr:\n%s", res.code, tail(res.stderr, 10))
	}
}

// TestBackfillTokensDyingEarly (issue 11, acceptance 2): Entra ID issues tokens that advertise an
// hour but the service answers 403 TokenExpired once they are 3 s old. Each such answer means
// "get a new token and retry once": a 5,000-row backfill completes, exit 0, nothing lost.
func TestBackfillTokensDyingEarly(t *testing.T) {
	t.Parallel()
	secret := randomSecret(t, "e2e-client-secret-")
	registerSecret(t, "auth.client_secret", secret)
	fake := aad.StartTLS(t, aad.Options{Clients: map[string]string{e2eClientID: secret},
		TokenLifetime: time.Hour, DiesAfter: 3 * time.Second})
	// Every POST takes 400 ms and one is in flight at a time: 25 POSTs of 200 rows take over 10 s,
	// so tokens die several times.
	emu := emulatortest.Start(t, emulator.Options{ValidateToken: fake.Valid, ExpiredToken: fake.Expired,
		SlowRate: 1, SlowDelay: 400 * time.Millisecond})
	l := limits{rowsPerPost: 200, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 1}
	dir := t.TempDir()
	want := genRows(0, 5_000)
	in := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, in, want)
	cfg := writeSecretConfig(t, dir, emu, fake, l)
	res := runBinary(t, 3*time.Minute, []string{"E2E_CLIENT_SECRET=" + secret}, "backfill", "-config", cfg, "-table", "Telemetry/Readings", in)
	if res.code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, tail(res.stderr, 40))
	}
	st := datasetStats(t, emu)
	checkDelivered(t, want, emu.Server.Rows(st.ID, "Readings"))
	byMsg, byLevel, _ := logCounts(res.stderr)
	expired := 0
	for _, l := range jsonLogs(res.stderr) {
		if l["msg"] == "token refused, refreshing once" && l["status"] == float64(http.StatusForbidden) {
			expired++
		}
	}
	if expired < 2 {
		t.Errorf("%d 403 TokenExpired answers refreshed: the test did not exercise them", expired)
	}
	if byLevel["ERROR"] != 0 {
		t.Errorf("%d ERROR lines:\n%s", byLevel["ERROR"], tail(res.stderr, 20))
	}
	t.Logf("5,000 rows delivered exactly once; %d 403 TokenExpired refreshed (%d refusals logged); %d POSTs", expired,
		byMsg["token refused, refreshing once"], st.Posts)
}

// sinkInfo is the sink part of one dataset in /status.
type sinkInfo struct {
	State     string           `json:"state"`
	Reason    string           `json:"reason"`
	Permanent bool             `json:"permanent"`
	Errors    map[string]int64 `json:"errors"`
}

// opsGetSinkStatus returns the sink state of every dataset in /status.
func opsGetSinkStatus(t *testing.T, base string) map[string]sinkInfo {
	t.Helper()
	code, body := opsGet(t, base+"/status?format=json")
	if code != http.StatusOK {
		t.Fatalf("/status: %d %s", code, body)
	}
	var st struct {
		Datasets []struct {
			Name string    `json:"name"`
			Sink *sinkInfo `json:"sink"`
		} `json:"datasets"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	out := map[string]sinkInfo{}
	for _, d := range st.Datasets {
		if d.Sink != nil { // nil only in the instant between the admin server's start and the spool's
			out[d.Name] = *d.Sink
		}
	}
	return out
}

// TestParkedDatasetDoesNotStopOthers (issue 11, acceptance 5): two datasets, one whose POSTs the
// service answers 403 (not permitted) for good. The other delivers everything, the process stays
// up, /status and the metrics show the parked one, and its rows stay spooled.
func TestParkedDatasetDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	emu := emulatortest.Start(t, emulator.Options{})
	// The service refuses every POST rows to dataset Blocked until an admin grants access.
	var granted atomic.Bool
	forbid := func(w http.ResponseWriter, r *http.Request) bool {
		if granted.Load() || r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/rows") {
			return false
		}
		for _, d := range emu.Server.DatasetsByName("Blocked") {
			if strings.Contains(r.URL.Path, "/datasets/"+d.ID+"/") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(`{"error":{"code":"Forbidden","message":"API is not accessible for application"}}`))
				return true
			}
		}
		return false
	}
	front := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !forbid(w, r) {
			emu.Server.ServeHTTP(w, r)
		}
	}), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = front.Serve(ln) }()
	t.Cleanup(func() { _ = front.Close() })

	dir := t.TempDir()
	good, blocked := filepath.Join(dir, "good.jsonl"), filepath.Join(dir, "blocked.jsonl")
	want := genRows(0, 3000)
	writeJSONL(t, good, want)
	writeJSONL(t, blocked, genRows(10_000, 500))
	table := datasetsYAML(limits{10000, 120, 1_000_000, 5})
	tables := table[strings.Index(table, "    tables:"):]
	cfg := fmt.Sprintf(`powerbi:
  api_url: http://%s/v1.0/myorg
auth:
  method: static_token
  token: ${E2E_TOKEN}
spool:
  path: %s
batch:
  linger: 100ms
admin:
  listen: 127.0.0.1:0
log:
  format: json
  level: info
%s  - name: Blocked
%ssources:
  - type: file
    table: Telemetry/Readings
    paths: [%s]
    follow: true
  - type: file
    table: Blocked/Readings
    paths: [%s]
    follow: true
`, ln.Addr(), filepath.Join(dir, "spool.db"), table, tables, good, blocked)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := ingestStart(t, "parked", path, "E2E_TOKEN="+emulatortest.DefaultToken)
	ingestAwaitDistinct(t, emu, len(want), 60*time.Second, p)
	admin := "http://" + p.adminAddr(t)
	var st map[string]sinkInfo
	ingestEventually(t, 20*time.Second, "dataset Blocked parked in /status", func() bool {
		st = opsGetSinkStatus(t, admin)
		return st["Blocked"].State == "parked"
	})
	if b := st["Blocked"]; !b.Permanent || !strings.Contains(b.Reason, "403") || st["Telemetry"].State != "up" {
		t.Errorf("/status sinks: %+v", st)
	}
	m := opsMetrics(t, admin)
	if v := m.must(t, "sink_state", "dataset=Blocked", "state=parked"); v != 1 {
		t.Errorf("sink_state{Blocked,parked} = %v, want 1", v)
	}
	if v := m.must(t, "sink_up", "dataset=Telemetry"); v != 1 {
		t.Errorf("sink_up{Telemetry} = %v, want 1", v)
	}
	if v := m.must(t, "spool_rows", "dataset=Blocked", "table=Readings"); v != 500 {
		t.Errorf("spool_rows{Blocked} = %v, want 500: a parked dataset keeps its rows", v)
	}
	if code, _ := opsGet(t, admin+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d with one dataset parked, want 200 (input is accepted)", code)
	}
	parked := 0
	for _, l := range jsonLogs(p.stderr()) {
		if l["msg"] == "dataset parked" && l["level"] == "ERROR" {
			parked++
		}
	}
	if parked != 1 {
		t.Errorf("%d ERROR \"dataset parked\" lines, want 1", parked)
	}
	rows, _ := ingestRows(t, emu)
	checkDelivered(t, want, rows)
	t.Logf("Telemetry: %d rows delivered exactly once; Blocked parked: %s", len(rows), st["Blocked"].Reason)

	// Access granted, SIGHUP: the parked dataset is resolved again and delivers its rows.
	granted.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ingestEventually(t, 30*time.Second, "Blocked's 500 rows delivered after SIGHUP", func() bool {
		n := int64(0)
		for _, d := range emu.Server.DatasetsByName("Blocked") {
			n += d.Rows
		}
		return n == 500
	})
	if st := opsGetSinkStatus(t, admin); st["Blocked"].State != "up" {
		t.Errorf("Blocked after SIGHUP: %+v", st["Blocked"])
	}
	p.term(t)
}

// TestAuthFailedRunRecoversOnSighup (issue 11, tokens): `run` with a client secret Entra ID refuses
// keeps running and spooling; the dataset is auth_failed with one ERROR naming the AADSTS code
// (never the secret); a config with the corrected secret and SIGHUP delivers every row.
func TestAuthFailedRunRecoversOnSighup(t *testing.T) {
	t.Parallel()
	right, wrong := randomSecret(t, "right-secret-"), randomSecret(t, "wrong-secret-")
	registerSecret(t, "auth.client_secret (the registered one)", right)
	registerSecret(t, "auth.client_secret (the configured wrong one)", wrong)
	fake := aad.StartTLS(t, aad.Options{Clients: map[string]string{e2eClientID: right}})
	emu := emulatortest.Start(t, emulator.Options{ValidateToken: fake.Valid})
	dir := t.TempDir()
	in := filepath.Join(dir, "rows.jsonl")
	want := genRows(0, 2000)
	writeJSONL(t, in, want)
	base, err := os.ReadFile(writeSecretConfig(t, dir, emu, fake, limits{rowsPerPost: 1000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}))
	if err != nil {
		t.Fatal(err)
	}
	cfgText := func(secretVar string) string {
		c := strings.NewReplacer(`listen: "off"`, "listen: 127.0.0.1:0", "level: debug", "level: info",
			"${E2E_CLIENT_SECRET}", "${"+secretVar+"}").Replace(string(base))
		return c + fmt.Sprintf("sources:\n  - type: file\n    table: Telemetry/Readings\n    paths: [%s]\n    follow: true\n", in)
	}
	cfg := opsWriteConfig(t, dir, cfgText("E2E_WRONG_SECRET"))
	p := ingestStart(t, "auth-failed", cfg, "E2E_WRONG_SECRET="+wrong, "E2E_RIGHT_SECRET="+right)
	admin := "http://" + p.adminAddr(t)
	var st map[string]sinkInfo
	ingestEventually(t, 20*time.Second, "auth_failed in /status with every row spooled", func() bool {
		st = opsGetSinkStatus(t, admin)
		v, _ := opsMetrics(t, admin).value("spool_rows", "dataset=Telemetry", "table=Readings")
		return st["Telemetry"].State == "auth_failed" && v == float64(len(want))
	})
	if !strings.Contains(st["Telemetry"].Reason, "AADSTS7000215") || !st["Telemetry"].Permanent {
		t.Errorf("/status sink: %+v", st["Telemetry"])
	}
	if v := opsMetrics(t, admin).must(t, "sink_state", "dataset=Telemetry", "state=auth_failed"); v != 1 {
		t.Errorf("sink_state{auth_failed} = %v, want 1", v)
	}
	time.Sleep(3 * time.Second) // several retries: still one ERROR
	var errs []map[string]any
	for _, l := range jsonLogs(p.stderr()) {
		if l["level"] == "ERROR" || l["level"] == "WARN" {
			errs = append(errs, l)
		}
	}
	if len(errs) != 1 || errs[0]["msg"] != "Power BI authentication failed" || errs[0]["aadsts"] != "AADSTS7000215" {
		t.Errorf("want one ERROR \"Power BI authentication failed\" with aadsts AADSTS7000215, got %v", errs)
	}
	opsWriteConfig(t, dir, cfgText("E2E_RIGHT_SECRET"))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ingestAwaitDistinct(t, emu, len(want), 60*time.Second, p)
	p.term(t)
	rows, _ := ingestRows(t, emu)
	checkDelivered(t, want, rows)
	recovered := 0
	for _, l := range jsonLogs(p.stderr()) {
		if l["msg"] == "Power BI recovered" {
			recovered++
		}
	}
	if recovered != 1 {
		t.Errorf("%d \"Power BI recovered\" lines, want 1", recovered)
	}
	t.Logf("auth_failed (%s); after SIGHUP with the right secret %d rows delivered exactly once", st["Telemetry"].Reason, len(rows))
}

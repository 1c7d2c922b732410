package e2e

import (
	"bufio"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// opsNotification is one sd_notify datagram and what was true when it arrived.
type opsNotification struct {
	at            time.Time
	text          string
	datasetExists bool // the emulator held dataset Telemetry when the datagram arrived
	spoolExists   bool
}

// opsNotifySocket is a fake systemd notify socket.
type opsNotifySocket struct {
	path string
	mu   sync.Mutex
	msgs []opsNotification
}

func opsListenNotify(t *testing.T, emu *emulatortest.Emulator, spoolPath string) *opsNotifySocket {
	t.Helper()
	// unix socket paths are limited to 108 bytes; t.TempDir() can be long, so use a short dir.
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s := &opsNotifySocket{path: filepath.Join(dir, "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			m := opsNotification{at: time.Now(), text: string(buf[:n])}
			m.datasetExists = len(emu.Server.DatasetsByName("Telemetry")) == 1
			_, serr := os.Stat(spoolPath)
			m.spoolExists = serr == nil
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *opsNotifySocket) all() []opsNotification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]opsNotification(nil), s.msgs...)
}

// find returns the datagrams containing the assignment kv (e.g. READY=1).
func (s *opsNotifySocket) find(kv string) []opsNotification {
	var out []opsNotification
	for _, m := range s.all() {
		for _, l := range strings.Split(m.text, "\n") {
			if l == kv {
				out = append(out, m)
			}
		}
	}
	return out
}

// TestOpsSdNotifyReadyWatchdogStopping runs `run` under a fake NOTIFY_SOCKET: READY=1 comes once
// the spool is open and the sources run (README: datasets resolve in the background, so READY=1
// does not wait for the service; TestOpsReadyzAndMetricsMoveAsRowsFlow holds the resolution and
// sees READY=1 meanwhile), WATCHDOG=1 every WATCHDOG_USEC/2,
// RELOADING=1 then READY=1 on SIGHUP, and STOPPING=1 on SIGTERM, followed by a clean exit.
func TestOpsSdNotifyReadyWatchdogStopping(t *testing.T) {
	emu := emulatortest.Start(t, emulator.Options{})
	dir := t.TempDir()
	spoolPath := filepath.Join(dir, "spool.db")
	input := filepath.Join(dir, "in.jsonl")
	opsAppendJSONL(t, input, genRows(0, 100))
	cfg := opsWriteConfig(t, dir, opsConfig{APIURL: emu.URL, Spool: spoolPath, Input: input}.yaml())
	sock := opsListenNotify(t, emu, spoolPath)

	p := opsStart(t, []string{"E2E_TOKEN=" + emu.Token, "NOTIFY_SOCKET=" + sock.path, "WATCHDOG_USEC=400000"},
		"run", "-config", cfg)
	admin := p.adminURL(10 * time.Second)
	opsEventually(t, 15*time.Second, "READY=1", func() bool { return len(sock.find("READY=1")) > 0 })
	ready := sock.find("READY=1")[0]
	if !ready.spoolExists {
		t.Fatalf("READY=1 arrived before the spool was open (no spool file)")
	}
	t.Logf("READY=1 arrived with the dataset in the service: %v", ready.datasetExists)
	if !strings.Contains(ready.text, "STATUS=") {
		t.Errorf("READY datagram has no STATUS=: %q", ready.text)
	}
	if code, _ := opsGet(t, admin+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d after READY=1, want 200", code)
	}
	for _, m := range sock.all() {
		if m.at.Before(ready.at) && strings.Contains(m.text, "WATCHDOG=1") {
			t.Errorf("WATCHDOG=1 before READY=1")
		}
	}

	// WATCHDOG_USEC=400000: a ping every 200 ms. Collect for ~1.2 s after READY.
	opsEventually(t, 5*time.Second, "6 WATCHDOG=1 pings", func() bool { return len(sock.find("WATCHDOG=1")) >= 6 })
	pings := sock.find("WATCHDOG=1")
	var maxGap time.Duration
	for i := 1; i < len(pings); i++ {
		maxGap = max(maxGap, pings[i].at.Sub(pings[i-1].at))
	}
	span := pings[len(pings)-1].at.Sub(pings[0].at)
	mean := span / time.Duration(len(pings)-1)
	t.Logf("watchdog: %d pings, mean interval %s, max gap %s", len(pings), mean, maxGap)
	// systemd kills the service when no ping arrives within WatchdogSec (400 ms here).
	if maxGap >= 400*time.Millisecond || mean < 150*time.Millisecond || mean > 260*time.Millisecond {
		t.Errorf("watchdog pings every %s on average (max gap %s), want ~200 ms and never ≥ 400 ms", mean, maxGap)
	}

	// SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 again.
	p.signal(syscall.SIGHUP)
	opsEventually(t, 5*time.Second, "RELOADING=1 and a second READY=1", func() bool {
		return len(sock.find("RELOADING=1")) == 1 && len(sock.find("READY=1")) == 2
	})
	rl := sock.find("RELOADING=1")[0]
	if !regexp.MustCompile(`(?m)^MONOTONIC_USEC=\d+$`).MatchString(rl.text) {
		t.Errorf("RELOADING datagram without MONOTONIC_USEC: %q", rl.text)
	}
	if r2 := sock.find("READY=1")[1]; r2.at.Before(rl.at) {
		t.Errorf("second READY=1 before RELOADING=1")
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	stopping := sock.find("STOPPING=1")
	if len(stopping) != 1 {
		t.Fatalf("%d STOPPING=1 datagrams, want 1; got %v", len(stopping), sock.all())
	}
	if stopping[0].at.Before(p.signalled) {
		t.Errorf("STOPPING=1 before SIGTERM")
	}
	for _, m := range sock.all() {
		if m.at.After(stopping[0].at) && (strings.Contains(m.text, "READY=1") || strings.Contains(m.text, "WATCHDOG=1")) {
			t.Errorf("%q after STOPPING=1", m.text)
		}
	}
	t.Logf("READY %s after start, STOPPING %s after SIGTERM, exit %s after SIGTERM",
		ready.at.Sub(p.started), stopping[0].at.Sub(p.signalled), p.exitedAt.Sub(p.signalled))
}

// TestOpsSystemdUnit checks the unit file with systemd-analyze: verify passes and the offline
// security exposure is OK or better.
func TestOpsSystemdUnit(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit := filepath.Join("..", "systemd", "pbi-pusher.service")
	if _, err := os.Stat(unit); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// verify may warn about other units on the host; any line about this unit is a problem.
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "pbi-pusher.service") {
			t.Errorf("systemd-analyze verify: %s", sc.Text())
		}
	}

	out, err = exec.Command(sa, "security", "--offline=true", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	// systemd's scale (src/analyze/analyze-security.c): exposure in tenths, PERFECT 0.0,
	// SAFE 0.1–0.9, OK 1.0–4.9, MEDIUM 5.0–7.4, EXPOSED 7.5–8.9, UNSAFE 9.0–9.9, DANGEROUS 10.0.
	m := regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d) (\w+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no overall exposure line:\n%s", out)
	}
	level, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("overall exposure %s %s", m[1], m[2])
	if level >= 5.0 || (m[2] != "OK" && m[2] != "SAFE" && m[2] != "PERFECT") {
		t.Errorf("exposure %s %s, want OK or better (< 5.0)", m[1], m[2])
	}
}

// opsDelivered is how many rows the emulator holds in Telemetry/Readings (0 before it exists).
func opsDelivered(emu *emulatortest.Emulator) int {
	ds := emu.Server.DatasetsByName("Telemetry")
	if len(ds) != 1 {
		return 0
	}
	for _, tb := range ds[0].Tables {
		if tb.Name == "Readings" {
			return tb.Rows
		}
	}
	return 0
}

// TestOpsSigtermDuringLoadExitsInTimeAndRestartDeliversEverything sends SIGTERM while slow POSTs
// are in flight: the process exits 0 within shutdown_timeout + 1 s, and a restart on the same
// spool delivers every row, with duplicates at most the rows of the POSTs cut at SIGTERM.
func TestOpsSigtermDuringLoadExitsInTimeAndRestartDeliversEverything(t *testing.T) {
	// Mostly waiting on the rate limits and Retry-After: runs beside the other waiting tests.
	t.Parallel()
	const (
		total       = 3000
		rowsPerPost = 500
		pending     = 4
		shutdown    = 2 * time.Second
		slowDelay   = 6 * time.Second
	)
	// A third of the POSTs are held 6 s, far longer than shutdown_timeout + 1 s: one in flight
	// at SIGTERM must be cancelled at shutdown_timeout (the emulator stores nothing for a POST
	// whose client went away) for the process to exit in time. The scheduler sends one POST per
	// table at a time, so a held POST stalls the table.
	emu := emulatortest.Start(t, emulator.Options{SlowRate: 0.3, SlowDelay: slowDelay, Seed: 7})
	dir := t.TempDir()
	input := filepath.Join(dir, "in.jsonl")
	want := genRows(0, total)
	opsAppendJSONL(t, input, want)
	cfg := opsWriteConfig(t, dir, opsConfig{APIURL: emu.URL, Spool: filepath.Join(dir, "spool.db"), Input: input,
		RowsPerPost: rowsPerPost, Pending: pending, ShutdownTimeout: shutdown.String()}.yaml())
	env := []string{"E2E_TOKEN=" + emu.Token}

	p := opsStart(t, env, "run", "-config", cfg)
	admin := p.adminURL(10 * time.Second)
	// SIGTERM while a held POST is in flight: one pending for 200 ms with no POST completing
	// (an unheld POST takes milliseconds), so it has ~5.8 s of its 6 s left.
	var heldSince time.Time
	var heldPosts int64 = -1
	opsEventually(t, 30*time.Second, "a held POST in flight", func() bool {
		ds := emu.Server.DatasetsByName("Telemetry")
		if len(ds) != 1 || ds[0].Pending == 0 || ds[0].Slowed == 0 {
			heldPosts = -1
			return false
		}
		if ds[0].Posts != heldPosts {
			heldPosts, heldSince = ds[0].Posts, time.Now()
			return false
		}
		return time.Since(heldSince) >= 200*time.Millisecond
	})
	inFlight := opsMetrics(t, admin).must(t, "http_posts_in_flight")
	before := opsDelivered(emu)
	p.signal(syscall.SIGTERM)
	code := p.wait(shutdown + 5*time.Second)
	took := p.exitedAt.Sub(p.signalled)
	t.Logf("SIGTERM with %d rows delivered, %.0f POSTs in flight: exit %d after %s (shutdown_timeout %s)",
		before, inFlight, code, took, shutdown)
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if took > shutdown+time.Second {
		t.Errorf("exit took %s after SIGTERM, want ≤ shutdown_timeout + 1 s = %s", took, shutdown+time.Second)
	}
	if !strings.Contains(p.stderr(), "spool closed") {
		t.Errorf("no 'spool closed' log line: the spool was not closed cleanly")
	}
	after := opsDelivered(emu)
	if after >= total {
		t.Fatalf("all %d rows delivered before the process stopped: the test did not interrupt a load", total)
	}

	// Restart on the same spool and file: everything arrives.
	p2 := opsStart(t, env, "run", "-config", cfg)
	admin2 := p2.adminURL(10 * time.Second)
	opsEventually(t, 40*time.Second, "every row delivered after restart", func() bool {
		if opsDelivered(emu) < total {
			return false
		}
		st := opsGetStatus(t, admin2)
		return len(st.Datasets) == 1 && st.Datasets[0].Tables[0].BacklogRows == 0 && st.Posts.InFlight == 0
	})
	p2.signal(syscall.SIGTERM)
	if code := p2.wait(shutdown + 5*time.Second); code != 0 {
		t.Errorf("second run exit code %d, want 0", code)
	}
	st := datasetStats(t, emu)
	got := emu.Server.Rows(st.ID, "Readings")
	dups := len(got) - total
	t.Logf("after restart: %d rows stored for %d sent (%d duplicates), %d posts, %d slowed", len(got), total, dups, st.Posts, st.Slowed)
	if dups > int(inFlight)*rowsPerPost {
		t.Fatalf("%d duplicate rows: more than the %v POSTs in flight at SIGTERM could cause", dups, inFlight)
	}
	if dups == 0 {
		checkDelivered(t, want, got)
	} else {
		opsCheckAtLeastOnce(t, want, got)
	}
}

// opsCheckAtLeastOnce asserts every want row arrived at least once and nothing else arrived.
func opsCheckAtLeastOnce(t *testing.T, want []row, got []map[string]any) {
	t.Helper()
	seen := map[int64]int{}
	for _, g := range got {
		seq, err := toInt64(g["Seq"])
		if err != nil {
			t.Fatalf("row without a valid Seq: %v", g)
		}
		seen[seq]++
	}
	for _, w := range want {
		if seen[w.Seq] == 0 {
			t.Fatalf("row Seq=%d missing", w.Seq)
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%d distinct rows stored, want %d", len(seen), len(want))
	}
}

// opsPosts is the emulator's accepted POST count for Telemetry.
func opsPosts(t *testing.T, emu *emulatortest.Emulator) int64 { return datasetStats(t, emu).Posts }

// TestOpsSighupReloadsLimitsAndKeepsRunningOnBrokenConfig changes the limits and sends SIGHUP:
// /status shows the new budget and POSTs grow to the new rows_per_post. Then a broken config
// and a config that changes a table are rejected with a log line that says why, and the process
// keeps serving and delivering on the running config.
func TestOpsSighupReloadsLimitsAndKeepsRunningOnBrokenConfig(t *testing.T) {
	emu := emulatortest.Start(t, emulator.Options{RowsPerPost: 1000})
	dir := t.TempDir()
	input := filepath.Join(dir, "in.jsonl")
	opsAppend(t, input, nil)
	base := opsConfig{APIURL: emu.URL, Spool: filepath.Join(dir, "spool.db"), Input: input,
		RowsPerPost: 100, Pending: 5, RowsPerHour: 1_000_000}
	cfg := opsWriteConfig(t, dir, base.yaml())
	p := opsStart(t, []string{"E2E_TOKEN=" + emu.Token}, "run", "-config", cfg)
	admin := p.adminURL(10 * time.Second)
	// "ready" means accepting input; the dataset resolves in the background.
	p.waitLog("Power BI dataset ready", 1, 10*time.Second)

	// deliver appends n rows and waits until the emulator holds them; it returns the POSTs used.
	var sent []row
	deliver := func(n int) int64 {
		t.Helper()
		posts0, rows0 := opsPosts(t, emu), opsDelivered(emu)
		rows := genRows(len(sent), n)
		opsAppendJSONL(t, input, rows)
		sent = append(sent, rows...)
		opsEventually(t, 20*time.Second, "appended rows delivered", func() bool { return opsDelivered(emu) >= rows0+n })
		return opsPosts(t, emu) - posts0
	}
	budget := func() (maxInFlight, rowsPerHour int) {
		t.Helper()
		st := opsGetStatus(t, admin)
		if len(st.Datasets) != 1 || st.Datasets[0].Budget == nil {
			t.Fatalf("/status has no budget: %+v", st)
		}
		b := st.Datasets[0].Budget
		if b.Multiplier != 1 {
			t.Fatalf("rate multiplier %v: the budget is scaled, the limits cannot be read from it", b.Multiplier)
		}
		return b.MaxInFlight, b.RowsThisHour + b.RowsLeftThisHour
	}

	postsBefore := deliver(1000)
	inflightBefore, rphBefore := budget()
	t.Logf("before reload: 1000 rows in %d POSTs; max in flight %d, rows per hour %d", postsBefore, inflightBefore, rphBefore)
	if postsBefore < 10 || inflightBefore != 5 || rphBefore != 1_000_000 {
		t.Fatalf("the initial limits are not in effect: %d POSTs for 1000 rows at rows_per_post 100, max in flight %d, rows/hour %d",
			postsBefore, inflightBefore, rphBefore)
	}

	changed := base
	changed.RowsPerPost, changed.Pending, changed.RowsPerHour = 1000, 2, 300_000
	opsWriteConfig(t, dir, changed.yaml())
	p.signal(syscall.SIGHUP)
	p.waitLog("config reloaded", 1, 10*time.Second)
	postsAfter := deliver(3000)
	inflightAfter, rphAfter := budget()
	t.Logf("after reload: 3000 rows in %d POSTs; max in flight %d, rows per hour %d", postsAfter, inflightAfter, rphAfter)
	if inflightAfter != 2 || rphAfter != 300_000 {
		t.Errorf("reloaded limits not in effect: max in flight %d (want 2), rows/hour %d (want 300000)", inflightAfter, rphAfter)
	}
	// 3000 rows at rows_per_post 1000: a handful of POSTs; the old limit would need 30.
	if postsAfter > 10 {
		t.Errorf("3000 rows took %d POSTs after raising rows_per_post to 1000: the old limit (100) still applies", postsAfter)
	}

	// A broken config (an unknown key) and one that changes a table: rejected, with the reason.
	cases := []struct {
		name, text, why string
	}{
		{"unknown key", changed.yaml() + "bogus_key: 1\n", "bogus_key"},
		{"table change", strings.Replace(changed.yaml(), "{name: Ok, type: Boolean}", "{name: Ok, type: String}", 1), "changed beyond its limits"},
	}
	for i, tc := range cases {
		opsWriteConfig(t, dir, tc.text)
		p.signal(syscall.SIGHUP)
		l := p.waitLog("reload rejected; keeping the running config", i+1, 10*time.Second)
		errText, _ := l["err"].(string)
		t.Logf("%s: logged %q: %s", tc.name, l["msg"], errText)
		if !strings.Contains(errText, tc.why) {
			t.Errorf("%s: rejection says %q, want it to name %q", tc.name, errText, tc.why)
		}
		if !p.running() {
			t.Fatalf("%s: the process exited on a rejected reload", tc.name)
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, _ := opsGet(t, admin+path); code != http.StatusOK {
				t.Errorf("%s: %s %d after a rejected reload, want 200", tc.name, path, code)
			}
		}
		n := deliver(2000)
		mif, rph := budget()
		if n > 7 || mif != 2 || rph != 300_000 {
			t.Errorf("%s: after the rejected reload 2000 rows took %d POSTs, max in flight %d, rows/hour %d: want the running limits (1000/post, 2, 300000)",
				tc.name, n, mif, rph)
		}
	}
	if c := strings.Count(p.stderr(), `"msg":"config reloaded"`); c != 1 {
		t.Errorf("%d 'config reloaded' lines, want 1", c)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	st := datasetStats(t, emu)
	if st.Rejected != 0 || len(st.Throttles) != 0 {
		t.Errorf("the emulator rejected %d POSTs and throttled %v", st.Rejected, st.Throttles)
	}
	checkDelivered(t, sent, emu.Server.Rows(st.ID, "Readings"))
}

// opsHoldingProxy forwards to the emulator but holds GET .../datasets (dataset resolution) until
// release is closed; seen is closed when the first such request arrives.
func opsHoldingProxy(t *testing.T, emu *emulatortest.Emulator) (apiURL string, seen <-chan struct{}, release func()) {
	t.Helper()
	target, err := url.Parse(emu.Root)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	seenC, releaseC := make(chan struct{}), make(chan struct{})
	var seenOnce, releaseOnce sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/datasets") {
			seenOnce.Do(func() { close(seenC) })
			select {
			case <-releaseC:
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	release = func() { releaseOnce.Do(func() { close(releaseC) }) }
	t.Cleanup(srv.Close)
	t.Cleanup(release)
	return srv.URL + "/v1.0/myorg", seenC, release
}

// TestOpsReadyzAndMetricsMoveAsRowsFlow holds dataset resolution: /healthz is 200, /readyz 503
// and no READY=1 is sent until it is released. Then rows flow (with injected 429s, slow POSTs,
// a malformed line, schema failures and rows Power BI rejects) and every metric of the
// Operations issue is parsed with the Prometheus text parser and checked against the emulator.
func TestOpsReadyzAndMetricsMoveAsRowsFlow(t *testing.T) {
	const rowsPerHour = 1_000_000
	emu := emulatortest.Start(t, emulator.Options{ThrottleRate: 0.2, SlowRate: 0.3, SlowDelay: 300 * time.Millisecond,
		Seed: 3, RejectRowsContaining: "POISON"})
	apiURL, seen, release := opsHoldingProxy(t, emu)
	dir := t.TempDir()
	input := filepath.Join(dir, "in.jsonl")
	opsAppend(t, input, nil)
	spoolPath := filepath.Join(dir, "spool.db")
	cfg := opsWriteConfig(t, dir, opsConfig{APIURL: apiURL, Spool: spoolPath, Input: input, RowsPerPost: 100, RowsPerHour: rowsPerHour}.yaml())
	sock := opsListenNotify(t, emu, spoolPath)
	p := opsStart(t, []string{"E2E_TOKEN=" + emu.Token, "NOTIFY_SOCKET=" + sock.path}, "run", "-config", cfg)
	admin := p.adminURL(10 * time.Second)

	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("pbi-pusher never asked for the datasets")
	}
	// Readiness means "accepting input durably": the sources run while the datasets resolve in
	// the background; the sink's state is reported apart (sink_up 0 until the service answers).
	opsEventually(t, 10*time.Second, "/readyz 200", func() bool { code, _ := opsGet(t, admin+"/readyz"); return code == 200 })
	opsEventually(t, 5*time.Second, "READY=1", func() bool { return len(sock.find("READY=1")) == 1 })
	if code, body := opsGet(t, admin+"/healthz"); code != 200 {
		t.Errorf("while datasets are unresolved: /healthz %d %q, want 200", code, body)
	}
	if up := opsMetrics(t, admin).must(t, "sink_up", "dataset=Telemetry"); up != 0 {
		t.Errorf("sink_up = %v while the dataset is unresolved, want 0", up)
	}
	release()
	opsEventually(t, 10*time.Second, "sink_up 1", func() bool { v, _ := opsMetrics(t, admin).value("sink_up", "dataset=Telemetry"); return v == 1 })

	tl := []string{"dataset=Telemetry", "table=Readings"}
	m0 := opsMetrics(t, admin)
	for _, name := range []string{"rows_read_total", "rows_spooled_total", "rows_delivered_total", "spool_rows", "spool_bytes"} {
		if v := m0.must(t, name, tl...); v != 0 {
			t.Errorf("%s = %v before any input, want 0", name, v)
		}
	}
	left0 := m0.must(t, "dataset_rows_left_this_hour", "dataset=Telemetry")
	postsLeft0 := m0.must(t, "dataset_posts_left", "dataset=Telemetry")
	tokOK0, _ := m0.value("token_requests_total", "result=ok")
	if left0 != rowsPerHour {
		t.Errorf("rows left this hour %v before any POST, want %d", left0, rowsPerHour)
	}

	// 2,000 good rows, 1 malformed line, 2 rows the schema refuses, 3 rows Power BI rejects.
	good := genRows(0, 2000)
	opsAppendJSONL(t, input, good[:1000])
	opsAppend(t, input, []byte("{not json\n"+
		`{"Seq":1,"Device":"x","At":"2026-11-01T08:00:00Z","Value":"abc","Ok":true}`+"\n"+
		`{"Seq":2,"Device":"x","At":"not a time","Value":1,"Ok":true}`+"\n"))
	poison := genRows(5000, 3)
	for i := range poison {
		poison[i].Device = "POISON"
	}
	opsAppendJSONL(t, input, poison)
	opsAppendJSONL(t, input, good[1000:])

	// Watch the gauges while the rows flow.
	var maxSpoolRows, maxSpoolBytes, maxOldest, maxHTTPInFlight, maxDSInFlight float64
	var m1 opsFamilies
	opsEventually(t, 45*time.Second, "2000 rows delivered and 3 rejected", func() bool {
		m1 = opsMetrics(t, admin)
		maxSpoolRows = max(maxSpoolRows, m1.must(t, "spool_rows", tl...))
		maxSpoolBytes = max(maxSpoolBytes, m1.must(t, "spool_bytes", tl...))
		maxOldest = max(maxOldest, m1.must(t, "spool_oldest_age_seconds", tl...))
		maxHTTPInFlight = max(maxHTTPInFlight, m1.must(t, "http_posts_in_flight"))
		maxDSInFlight = max(maxDSInFlight, m1.must(t, "dataset_posts_in_flight", "dataset=Telemetry"))
		rej, _ := m1.value("rows_dead_lettered_total", append(tl, "reason=rejected")...)
		return m1.must(t, "rows_delivered_total", tl...) == 2000 && rej == 3 &&
			m1.must(t, "spool_rows", tl...) == 0 && m1.must(t, "spool_in_flight_rows") == 0
	})
	st := datasetStats(t, emu)
	checkDelivered(t, good, emu.Server.Rows(st.ID, "Readings"))

	exact := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"rows_read_total", tl, 2006},
		{"rows_spooled_total", tl, 2003},
		{"rows_delivered_total", tl, 2000},
		{"rows_dead_lettered_total", append(tl, "reason=decode"), 1},
		{"rows_dead_lettered_total", append(tl, "reason=schema"), 2},
		{"rows_dead_lettered_total", append(tl, "reason=rejected"), 3},
		{"spool_dead_letters", nil, 6},
		{"spool_rows", tl, 0},
		{"spool_bytes", tl, 0},
		{"spool_oldest_age_seconds", tl, 0},
		{"http_posts_in_flight", nil, 0},
		{"dataset_posts_in_flight", []string{"dataset=Telemetry"}, 0},
		// The instrumented transport sees exactly what the service answered.
		{"http_posts_total", []string{"code=200"}, float64(st.Posts)},
		{"http_posts_total", []string{"code=400"}, float64(st.Rejected)},
		{"http_posts_total", []string{"code=429"}, float64(st.Throttles[emulator.ReasonInjected])},
		{"http_throttled_total", nil, float64(st.Throttles[emulator.ReasonInjected])},
		{"dataset_posts_total", []string{"dataset=Telemetry", "outcome=throttled"}, float64(st.Throttles[emulator.ReasonInjected])},
	}
	for _, e := range exact {
		if got := m1.must(t, e.name, e.labels...); got != e.want {
			t.Errorf("pbi_pusher_%s%v = %v, want %v", e.name, e.labels, got, e.want)
		}
	}
	// After 429s the AIMD multiplier scales the budget: left = rows_per_hour × multiplier − used.
	mult := m1.must(t, "dataset_rate_multiplier", "dataset=Telemetry")
	used := m1.must(t, "dataset_rows_this_hour", "dataset=Telemetry")
	if left := m1.must(t, "dataset_rows_left_this_hour", "dataset=Telemetry"); math.Abs(left-(rowsPerHour*mult-used)) > 1 {
		t.Errorf("rows left this hour %v, want rows_per_hour × multiplier %v − rows this hour %v = %v", left, mult, used, rowsPerHour*mult-used)
	}
	codes := 0.0
	for _, c := range []string{"200", "400", "429"} {
		v, _ := m1.value("http_posts_total", "code="+c)
		codes += v
	}
	throttles := float64(st.Throttles[emulator.ReasonInjected])
	if throttles == 0 || st.Rejected == 0 || st.Slowed == 0 {
		t.Fatalf("the emulator injected %v throttles, %d rejections, %d slow POSTs: the scenario did not exercise them", throttles, st.Rejected, st.Slowed)
	}
	moved := []struct {
		what string
		ok   bool
	}{
		{"rows this hour ≥ 2000 delivered", m1.must(t, "dataset_rows_this_hour", "dataset=Telemetry") >= 2000},
		{"rows left this hour fell by ≥ 2000", m1.must(t, "dataset_rows_left_this_hour", "dataset=Telemetry") <= left0-2000},
		{"rate multiplier < 1 after 429s", mult < 1},
		{"POSTs this minute ≥ accepted POSTs", m1.must(t, "dataset_posts_this_minute", "dataset=Telemetry") >= float64(st.Posts)},
		{"POSTs left fell", m1.must(t, "dataset_posts_left", "dataset=Telemetry") < postsLeft0},
		{"retry waits ≥ 1", m1.must(t, "retry_waits_total", "dataset=Telemetry") >= 1},
		{"retry wait seconds ≥ 1 (Retry-After: 1)", m1.must(t, "retry_wait_seconds_total", "dataset=Telemetry") >= 1},
		{"latency histogram counts every answered POST", m1.must(t, "http_post_duration_seconds") == codes},
		{"token refreshes ≥ 1", m1.must(t, "token_refreshes_total") >= 1},
		{"token requests moved", m1.must(t, "token_requests_total", "result=ok") > tokOK0},
		{"spool rows > 0 during the flow", maxSpoolRows > 0},
		{"spool bytes > 0 during the flow", maxSpoolBytes > 0},
		{"oldest age > 0 during the flow", maxOldest > 0},
		{"HTTP POSTs in flight > 0 during the flow", maxHTTPInFlight > 0},
		{"dataset POSTs in flight > 0 during the flow", maxDSInFlight > 0},
	}
	for _, m := range moved {
		if !m.ok {
			t.Errorf("metric did not move: %s", m.what)
		}
	}
	if fam := m1["pbi_pusher_http_post_duration_seconds"]; fam == nil || fam.GetType().String() != "HISTOGRAM" {
		t.Errorf("pbi_pusher_http_post_duration_seconds is not a histogram")
	}
	if _, ok := m1["pbi_pusher_kafka_lag"]; !ok {
		t.Logf("pbi_pusher_kafka_lag absent: no kafka source configured (lag is checked with a kafka source elsewhere)")
	}
	t.Logf("emulator: %d POSTs accepted, %d rejected, %v throttles, %d slowed; max spool rows %v, max oldest %.2fs, max in flight %v/%v; retry waits %v (%vs)",
		st.Posts, st.Rejected, throttles, st.Slowed, maxSpoolRows, maxOldest, maxHTTPInFlight, maxDSInFlight,
		m1.must(t, "retry_waits_total", "dataset=Telemetry"), m1.must(t, "retry_wait_seconds_total", "dataset=Telemetry"))

	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestOpsSigtermWhileResolvingDatasetsExitsPromptly holds dataset resolution and sends SIGTERM:
// the background resolution is abandoned at once (nothing hangs until request_timeout) and the
// process exits 0, as for any requested stop.
func TestOpsSigtermWhileResolvingDatasetsExitsPromptly(t *testing.T) {
	emu := emulatortest.Start(t, emulator.Options{})
	apiURL, seen, _ := opsHoldingProxy(t, emu)
	dir := t.TempDir()
	input := filepath.Join(dir, "in.jsonl")
	opsAppendJSONL(t, input, genRows(0, 10))
	spoolPath := filepath.Join(dir, "spool.db")
	cfg := opsWriteConfig(t, dir, opsConfig{APIURL: apiURL, Spool: spoolPath, Input: input, ShutdownTimeout: "2s"}.yaml())
	sock := opsListenNotify(t, emu, spoolPath)
	p := opsStart(t, []string{"E2E_TOKEN=" + emu.Token, "NOTIFY_SOCKET=" + sock.path}, "run", "-config", cfg)
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("pbi-pusher never asked for the datasets")
	}
	p.signal(syscall.SIGTERM)
	code := p.wait(10 * time.Second)
	took := p.exitedAt.Sub(p.signalled)
	t.Logf("SIGTERM during dataset resolution: exit %d after %s; log tail:\n%s", code, took, tail(p.stderr(), 4))
	if took > 3*time.Second {
		t.Errorf("exit took %s after SIGTERM during start-up, want ≤ shutdown_timeout + 1 s", took)
	}
	// A requested stop is a clean stop (README: run exits 0 on a clean stop), even during start-up.
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM during start-up, want 0", code)
	}
}

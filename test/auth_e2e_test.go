package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// Acceptance tests of issue "Sink and authentication": short-lived MSAL tokens during a long
// backfill, rows the service rejects, and secrets that never reach the output.

const (
	e2eTenant   = "pbi-e2e-tenant" // lower case: MSAL lowercases the authority path
	e2eClientID = "6f1d2c3b-0a9e-4b7c-8d6e-5f4a3b2c1d0e"
)

// randomSecret returns a fresh secret-looking value (registered by the caller).
func randomSecret(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// tokenWatch is the emulator's ValidateToken: it asks the fake Entra ID, counts the tokens it
// refused (each one a 401) and the distinct tokens it accepted, and registers every token it sees
// as a secret for the output scan.
type tokenWatch struct {
	aad *aad.Running

	mu       sync.Mutex
	accepted map[string]bool
	refused  int
}

func newTokenWatch(a *aad.Running) *tokenWatch {
	return &tokenWatch{aad: a, accepted: map[string]bool{}}
}

func (w *tokenWatch) valid(token string) bool {
	addSecret("bearer token issued by the fake Entra ID", token)
	ok := w.aad.Valid(token)
	w.mu.Lock()
	defer w.mu.Unlock()
	if ok {
		w.accepted[token] = true
	} else {
		w.refused++
	}
	return ok
}

func (w *tokenWatch) counts() (distinctAccepted, refused int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.accepted), w.refused
}

// writeSecretConfig writes a config that authenticates with client_secret (from
// $E2E_CLIENT_SECRET) against the fake Entra ID and posts to emu.
func writeSecretConfig(t *testing.T, dir string, emu *emulatortest.Emulator, a *aad.Running, l limits) string {
	t.Helper()
	cfg := fmt.Sprintf(`powerbi:
  api_url: %s
  ca_file: %s
auth:
  method: client_secret
  authority_url: %s
  tenant: %s
  client_id: %s
  client_secret: ${E2E_CLIENT_SECRET}
spool:
  path: %s
batch:
  linger: 100ms
admin:
  listen: "off"
log:
  format: json
  level: debug
%s`, emu.URL, a.CAFile, a.URL, e2eTenant, e2eClientID, filepath.Join(dir, "spool.db"), datasetsYAML(l))
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// logLine is one JSON log line of pbi-pusher (stderr).
type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
}

// logCounts counts pbi-pusher's JSON log lines by message and by level; non-JSON lines are
// returned as they are.
func logCounts(stderr string) (byMsg, byLevel map[string]int, other []string) {
	byMsg, byLevel = map[string]int{}, map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Msg == "" {
			if s := strings.TrimSpace(sc.Text()); s != "" {
				other = append(other, s)
			}
			continue
		}
		byMsg[l.Msg]++
		byLevel[l.Level]++
	}
	return byMsg, byLevel, other
}

// spoolJSON runs `pbi-pusher spool CMD -config cfg -json` and decodes its output into out.
func spoolJSON(t *testing.T, cfg, cmd string, env []string, out any) {
	t.Helper()
	res := runBinary(t, 30*time.Second, env, "spool", cmd, "-config", cfg, "-json")
	if res.code != 0 {
		t.Fatalf("spool %s: exit %d\nstderr:\n%s", cmd, res.code, res.stderr)
	}
	if err := json.Unmarshal([]byte(res.stdout), out); err != nil {
		t.Fatalf("spool %s -json: %v\n%s", cmd, err, tail(res.stdout, 20))
	}
}

// TestAuthE2EShortLivedTokensBackfill: with a token lifetime of 5 s, a 100,000-row backfill
// completes with zero failed batches.
func TestAuthE2EShortLivedTokensBackfill(t *testing.T) {
	// Mostly waiting on the rate limits and Retry-After: runs beside the other waiting tests.
	t.Parallel()
	const lifetime = 5 * time.Second
	secret := randomSecret(t, "e2e-client-secret-")
	registerSecret(t, "auth.client_secret", secret)
	fake := aad.StartTLS(t, aad.Options{Clients: map[string]string{e2eClientID: secret}, TokenLifetime: lifetime})
	watch := newTokenWatch(fake)
	// The drain is greedy (50 POSTs fit the 120 POSTs/min window at once), so the load is kept
	// long by the service instead: every POST takes 400 ms and one is in flight at a time. 100,000
	// rows at 2,000 per POST are 50 POSTs, over 20 s, four token lifetimes: tokens expire and are
	// replaced mid-load.
	emu := emulatortest.Start(t, emulator.Options{ValidateToken: watch.valid, SlowRate: 1, SlowDelay: 400 * time.Millisecond})
	l := limits{rowsPerPost: 2000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 1}
	dir := t.TempDir()
	want := genRows(0, 100_000)
	in := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, in, want)
	cfg := writeSecretConfig(t, dir, emu, fake, l)
	env := []string{"E2E_CLIENT_SECRET=" + secret}

	start := time.Now()
	res := runBinary(t, 3*time.Minute, env, "backfill", "-config", cfg, "-table", "Telemetry/Readings", in)
	elapsed := time.Since(start)
	if res.code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, tail(res.stderr, 40))
	}
	for _, line := range []string{"rows read: 100000", "rows delivered: 100000", "rows rejected: 0"} {
		if !strings.Contains(res.stdout, line) {
			t.Errorf("summary lacks %q:\n%s", line, res.stdout)
		}
	}
	st := datasetStats(t, emu)
	checkDelivered(t, want, emu.Server.Rows(st.ID, "Readings"))

	// The load must really outlive several tokens, or the test proves nothing.
	if elapsed < 3*lifetime {
		t.Errorf("backfill took %s, less than 3 token lifetimes (%s): tokens did not expire mid-load", elapsed, 3*lifetime)
	}
	as := fake.Stats()
	distinct, refused := watch.counts()
	if as.Issued < 3 || distinct < 3 {
		t.Errorf("fake Entra ID issued %d tokens, emulator accepted %d distinct ones; want >= 3 each", as.Issued, distinct)
	}
	if as.Rejected != 0 {
		t.Errorf("fake Entra ID refused %d token requests", as.Rejected)
	}

	// No failed batch. The service side: every POST was stored on its first attempt that reached
	// the windows (no 400/500/429). The client side: no POST was retried, throttled, bisected or
	// dead-lettered, and nothing was logged at WARN or ERROR. 401s are counted below.
	if st.Rejected != 0 || st.Failed != 0 || len(st.Throttles) != 0 {
		t.Errorf("emulator: %d rejected posts, %d failed, throttles %v", st.Rejected, st.Failed, st.Throttles)
	}
	byMsg, byLevel, other := logCounts(res.stderr)
	for _, msg := range []string{"POST failed, retrying", "POST rejected, bisecting", "row rejected, dead-lettered",
		"throttled", "auth token request failed"} {
		if byMsg[msg] != 0 {
			t.Errorf("log has %d %q lines: a batch failed", byMsg[msg], msg)
		}
	}
	if byLevel["WARN"]+byLevel["ERROR"] != 0 {
		t.Errorf("log has %d WARN and %d ERROR lines:\n%s", byLevel["WARN"], byLevel["ERROR"], tail(res.stderr, 20))
	}
	if len(other) != 0 {
		t.Errorf("stderr has %d non-JSON lines, first: %q", len(other), other[0])
	}
	// A 401 refreshed and retried inside the sink is not a failed batch (and one at an expiry edge
	// on a loaded machine is tolerated), but pbi-pusher replaces a token before it expires
	// (lifetime/5 early), so more than one means it sends expired tokens.
	refreshes := byMsg["token refused, refreshing once"]
	if refreshes != refused {
		t.Errorf("emulator answered %d 401s, pbi-pusher logged %d token refusals", refused, refreshes)
	}
	if refused > 1 {
		t.Errorf("emulator refused %d expired or unknown tokens: pbi-pusher does not refresh tokens before they expire", refused)
	}
	var stats struct {
		DeadLetters int `json:"dead_letters"`
		InFlight    int `json:"in_flight"`
	}
	spoolJSON(t, cfg, "stats", env, &stats)
	if stats.DeadLetters != 0 || stats.InFlight != 0 {
		t.Errorf("spool after the backfill: %d dead letters, %d in flight; want 0, 0", stats.DeadLetters, stats.InFlight)
	}
	t.Logf("elapsed=%s posts=%d tokensIssued=%d distinctTokensAccepted=%d tokenRequests=%d 401s=%d "+
		"acquired(log)=%d peakPostsPerMinute=%d", elapsed.Round(time.Millisecond), st.Posts, as.Issued, distinct,
		as.ClientSecret, refused, byMsg["auth token acquired"], st.PeakPostsPerMinute)
}

// TestAuthE2EEarlyExpiredTokensAreRefreshedAndRetried: when the service refuses a token before
// the expiry it was issued with (clock skew, revocation), the POST gets a 401, the sink fetches a
// fresh token and sends the POST again; no batch fails and no row is lost or duplicated.
func TestAuthE2EEarlyExpiredTokensAreRefreshedAndRetried(t *testing.T) {
	// Mostly waiting on the rate limits and Retry-After: runs beside the other waiting tests.
	t.Parallel()
	secret := randomSecret(t, "e2e-client-secret-")
	registerSecret(t, "auth.client_secret", secret)
	// The fake's clock runs 3 times as fast as the wall clock: a token issued "for 5 s" is refused
	// after 1.7 s, while pbi-pusher keeps it for 4 s. Every token is thus refused at least once.
	base := time.Now()
	fast := func() time.Time { return base.Add(3 * time.Since(base)) }
	fake := aad.StartTLS(t, aad.Options{Clients: map[string]string{e2eClientID: secret},
		TokenLifetime: 5 * time.Second, Now: fast})
	watch := newTokenWatch(fake)
	// 30 POSTs of 400 ms, one at a time (the greedy drain would send them all within a token's
	// life): over 12 s, so several tokens are refused.
	emu := emulatortest.Start(t, emulator.Options{ValidateToken: watch.valid, SlowRate: 1, SlowDelay: 400 * time.Millisecond})
	l := limits{rowsPerPost: 2000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 1}
	dir := t.TempDir()
	want := genRows(0, 60_000)
	in := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, in, want)
	cfg := writeSecretConfig(t, dir, emu, fake, l)
	env := []string{"E2E_CLIENT_SECRET=" + secret}

	start := time.Now()
	res := runBinary(t, 2*time.Minute, env, "backfill", "-config", cfg, "-table", "Telemetry/Readings", in)
	elapsed := time.Since(start)
	if res.code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, tail(res.stderr, 40))
	}
	st := datasetStats(t, emu)
	checkDelivered(t, want, emu.Server.Rows(st.ID, "Readings"))
	distinct, refused := watch.counts()
	byMsg, byLevel, _ := logCounts(res.stderr)
	refreshes := byMsg["token refused, refreshing once"]
	if refused < 2 {
		t.Errorf("emulator refused %d tokens: the test did not exercise the refresh on 401", refused)
	}
	if refreshes != refused {
		t.Errorf("emulator answered %d 401s, pbi-pusher logged %d token refusals", refused, refreshes)
	}
	if n := byMsg["POST failed, retrying"] + byLevel["WARN"] + byLevel["ERROR"]; n != 0 {
		t.Errorf("%d failed POSTs or WARN/ERROR lines:\n%s", n, tail(res.stderr, 20))
	}
	if st.Rejected != 0 || st.Failed != 0 || len(st.Throttles) != 0 {
		t.Errorf("emulator: %d rejected posts, %d failed, throttles %v", st.Rejected, st.Failed, st.Throttles)
	}
	as := fake.Stats()
	t.Logf("elapsed=%s posts=%d 401s=%d refreshes(log)=%d tokensIssued=%d distinctTokensAccepted=%d",
		elapsed.Round(time.Millisecond), st.Posts, refused, refreshes, as.Issued, distinct)
}

// rejectMarker is put in the Device of every 1,000th row; the emulator rejects rows containing it.
const rejectMarker = "POISON-e2e"

// TestRejectedRowsDeadLetteredWithServiceReason: a backfill in which 1 row in 1,000 is rejected by
// the service delivers every other row exactly once and dead-letters exactly the rejected rows
// with the service's reason.
func TestRejectedRowsDeadLetteredWithServiceReason(t *testing.T) {
	// Mostly waiting on the rate limits and Retry-After: runs beside the other waiting tests.
	t.Parallel()
	// Isolating one bad row in a POST of 1,000 costs about 2·log2(1000) ≈ 20 POSTs, and the
	// dataset may make 2 POSTs/s (120/min), so each rejected row costs ~10 s of the time budget:
	// 5,000 rows with 5 rejected ones.
	const n, every = 5000, 1000
	l := limits{rowsPerPost: 1000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	emu := emulatortest.Start(t, emulator.Options{RejectRowsContaining: rejectMarker})
	registerSecret(t, "auth.token (emulator)", emu.Token)

	all := genRows(0, n)
	var good []row
	bad := map[int64]row{}
	for i := range all {
		if k := i / every; i%every == (every/2+137*k)%every { // a different place in every block
			all[i].Device = "dev " + rejectMarker + fmt.Sprintf(" #%d", i)
			bad[all[i].Seq] = all[i]
			continue
		}
		good = append(good, all[i])
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, in, all)
	cfg := writeConfig(t, dir, emu, l)
	env := []string{"E2E_TOKEN=" + emu.Token}

	start := time.Now()
	res := runBinary(t, 90*time.Second, env, "backfill", "-config", cfg, "-table", "Telemetry/Readings", in)
	elapsed := time.Since(start)
	if res.code != 3 {
		t.Fatalf("exit code %d, want 3 (rows dead-lettered)\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, tail(res.stderr, 40))
	}
	for _, line := range []string{fmt.Sprintf("rows read: %d", n), fmt.Sprintf("rows delivered: %d", len(good)),
		fmt.Sprintf("rows rejected: %d", len(bad))} {
		if !strings.Contains(res.stdout, line) {
			t.Errorf("summary lacks %q:\n%s", line, res.stdout)
		}
	}
	st := datasetStats(t, emu)
	checkDelivered(t, good, emu.Server.Rows(st.ID, "Readings"))

	var dls []struct {
		ID       uint64 `json:"id"`
		Dataset  string `json:"dataset"`
		Table    string `json:"table"`
		Position string `json:"position"`
		Reason   string `json:"reason"`
		Data     string `json:"data"`
	}
	spoolJSON(t, cfg, "dead-letters", env, &dls)
	if len(dls) != len(bad) {
		t.Errorf("%d dead letters, want %d", len(dls), len(bad))
	}
	seen := map[int64]bool{}
	for _, d := range dls {
		var r struct {
			Seq    json.Number
			Device string
		}
		dec := json.NewDecoder(strings.NewReader(d.Data))
		dec.UseNumber()
		if err := dec.Decode(&r); err != nil {
			t.Errorf("dead letter %d: data %q: %v", d.ID, d.Data, err)
			continue
		}
		seq, err := r.Seq.Int64()
		if err != nil {
			t.Errorf("dead letter %d: Seq %q: %v", d.ID, r.Seq, err)
			continue
		}
		w, ok := bad[seq]
		switch {
		case !ok:
			t.Errorf("dead letter %d holds row Seq=%d, which the service did not reject", d.ID, seq)
		case seen[seq]:
			t.Errorf("row Seq=%d dead-lettered twice", seq)
		case r.Device != w.Device:
			t.Errorf("dead letter %d: Device %q, want %q", d.ID, r.Device, w.Device)
		}
		seen[seq] = true
		if d.Dataset != "Telemetry" || d.Table != "Readings" {
			t.Errorf("dead letter %d queue %s/%s, want Telemetry/Readings", d.ID, d.Dataset, d.Table)
		}
		// The service's own words: the emulator names the row of the (single-row) POST, its value,
		// the column and the marker; details[0].target is rows[0].
		if ok {
			want := fmt.Sprintf("Row 0: value '%s' of column 'Device' contains the rejected marker %q (rows[0])", w.Device, rejectMarker)
			if d.Reason != want {
				t.Errorf("dead letter %d reason %q, want the service's %q", d.ID, d.Reason, want)
			}
		}
	}
	if st.Throttles[emulator.ReasonPostsPerMinute] != 0 || st.PeakPostsPerMinute > int64(l.postsPerMinute) {
		t.Errorf("pbi-pusher broke the POST limit while bisecting: throttles %v, peak %d posts/min (rejected POSTs count)",
			st.Throttles, st.PeakPostsPerMinute)
	}
	reason := ""
	if len(dls) > 0 {
		reason = dls[0].Reason
	}
	t.Logf("elapsed=%s rows=%d rejectedRows=%d posts=%d rejectedPosts=%d throttles=%v peakPostsPerMinute=%d reason[0]=%q",
		elapsed.Round(time.Millisecond), n, len(bad), st.Posts, st.Rejected, st.Throttles, st.PeakPostsPerMinute,
		reason)
}

// TestSecretsWrongClientSecretFailsWithoutLeaking: a backfill with a wrong client secret at
// log.level debug exits 1 with a message naming the method and a hint, and no output holds the
// secret (checked here and by the scan in TestMain).
func TestSecretsWrongClientSecretFailsWithoutLeaking(t *testing.T) {
	right, wrong := randomSecret(t, "right-secret-"), randomSecret(t, "wrong-secret-")
	registerSecret(t, "auth.client_secret (the registered one)", right)
	registerSecret(t, "auth.client_secret (the configured wrong one)", wrong)
	fake := aad.StartTLS(t, aad.Options{Clients: map[string]string{e2eClientID: right}})
	watch := newTokenWatch(fake)
	emu := emulatortest.Start(t, emulator.Options{ValidateToken: watch.valid})
	dir := t.TempDir()
	in := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, in, genRows(0, 100))
	cfg := writeSecretConfig(t, dir, emu, fake, limits{rowsPerPost: 100, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5})

	res := runBinary(t, 60*time.Second, []string{"E2E_CLIENT_SECRET=" + wrong},
		"backfill", "-config", cfg, "-table", "Telemetry/Readings", in)
	if res.code != 1 {
		t.Fatalf("exit code %d, want 1 (auth rejected)\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, tail(res.stderr, 40))
	}
	for _, frag := range []string{"auth client_secret", "AADSTS7000215",
		"hint: auth.client_secret is wrong or expired"} {
		if !strings.Contains(res.stderr, frag) {
			t.Errorf("stderr lacks %q:\n%s", frag, tail(res.stderr, 20))
		}
	}
	for name, s := range map[string]string{"wrong secret": wrong, "right secret": right} {
		if strings.Contains(res.stdout+res.stderr, s) {
			t.Errorf("output contains the %s", name)
		}
	}
	if as := fake.Stats(); as.ClientSecret == 0 || as.Issued != 0 {
		t.Errorf("fake Entra ID saw %d client_secret requests and issued %d tokens; want > 0 and 0", as.ClientSecret, as.Issued)
	}
	if ds := emu.Server.DatasetsByName("Telemetry"); len(ds) != 0 {
		t.Errorf("a dataset was created without a valid token")
	}
	t.Logf("stderr (%d lines), last:\n%s", strings.Count(res.stderr, "\n"), tail(res.stderr, 3))
}

// TestSecretsScanFindsAPlantedSecret proves that the scan TestMain runs over every output can
// fail: a registered value in an output file is reported by file and name, never by value.
func TestSecretsScanFindsAPlantedSecret(t *testing.T) {
	dir := t.TempDir()
	planted := randomSecret(t, "planted-")
	if err := os.WriteFile(filepath.Join(dir, "0001-run.stderr"), []byte(`{"msg":"x","token":"`+planted+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "0001-run.stdout"), []byte("rows read: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	leaks, err := scanForSecrets(dir, map[string]string{planted: "planted token", "not-in-any-file": "other"})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaks) != 1 || !strings.Contains(leaks[0], "0001-run.stderr") || !strings.Contains(leaks[0], "planted token") {
		t.Fatalf("scan reported %q, want one leak of \"planted token\" in 0001-run.stderr", leaks)
	}
	if strings.Contains(leaks[0], planted) {
		t.Fatalf("the report %q contains the secret's value", leaks[0])
	}
}

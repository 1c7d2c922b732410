package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Crash test parameters (issue "Durable spool").
const (
	crashRows  = 200_000
	crashKills = 20
	// 100 POSTs. pbi-pusher posts one batch per table at a time, so at most one batch (2,000
	// rows) is in flight at a kill: the emulator sees at most 100+20 POSTs in all, within its 120
	// per rolling minute however the restarts pace them, and holds at most 240,000 rows, below
	// the 250,000 that switch a retention-None table to the hourly POST tier (pbi-pusher counts
	// acked rows for that switch, not the duplicates the kills force).
	crashRowsPerPost = 2000
	// Each POST rows is held crashHold before the emulator handles it and crashHold after it
	// stored the rows, before the 2xx goes out, as a slow network would. A kill in the first
	// window leaves rows in flight that never arrived; a kill in the second leaves rows stored at
	// "Power BI" but not acked in the spool: the one case where the protocol forces a duplicate.
	crashHold = 100 * time.Millisecond
)

// crashProc is the binary started in the background; it is killed with SIGKILL or runs to its end.
type crashProc struct {
	cmd      *exec.Cmd
	started  time.Time
	stdout   string // file paths
	stderr   string
	done     chan struct{} // closed once the process was waited for
	err      error         // Wait's error, valid after done
	captured sync.Once
}

// crashStart starts pbi-pusher with args, stdout and stderr going to files named after name in dir.
func crashStart(t *testing.T, dir, name string, env []string, args ...string) *crashProc {
	t.Helper()
	p := &crashProc{stdout: filepath.Join(dir, name+".stdout"), stderr: filepath.Join(dir, name+".stderr"),
		done: make(chan struct{})}
	out, err := os.Create(p.stdout)
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = out, errf
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start pbi-pusher %v: %v", args, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = out.Close()
		_ = errf.Close()
		close(p.done)
	}()
	// Never leave a process behind, whatever the test does.
	t.Cleanup(func() { p.kill(); p.capture(t) })
	return p
}

// capture hands the output of the ended process to the secret scan (once).
func (p *crashProc) capture(t *testing.T) {
	t.Helper()
	p.captured.Do(func() { captureOutput(t, []byte(p.readStdout()), []byte(p.readStderr())) })
}

// exited reports whether the process has ended on its own (or was killed and waited for).
func (p *crashProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (if the process still runs) and waits for it; it reports whether the
// process was still running, i.e. whether the kill really interrupted it.
func (p *crashProc) kill() bool {
	running := !p.exited()
	if running {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
	return running
}

// wait waits for the process to end by itself and returns its exit code; it kills it and fails
// the test after timeout.
func (p *crashProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.kill()
		p.capture(t)
		t.Fatalf("pbi-pusher did not finish within %s\nstderr:\n%s", timeout, tail(p.readStderr(), 40))
	}
	p.capture(t)
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("wait pbi-pusher: %v", p.err)
	return -1
}

func (p *crashProc) readStdout() string { b, _ := os.ReadFile(p.stdout); return string(b) }
func (p *crashProc) readStderr() string { b, _ := os.ReadFile(p.stderr); return string(b) }

// crashEmulator starts the project's emulator in-process (so it outlives every kill of the
// binary) behind a handler that holds each POST rows for crashHold before the emulator sees it
// (a client killed meanwhile loses the request) and for crashHold after the emulator stored its
// rows. Otherwise the emulator has the Power BI limits (but rows_per_post) and injects no faults.
func crashEmulator(t *testing.T) *emulatortest.Emulator {
	t.Helper()
	token := emulatortest.DefaultToken
	srv := emulator.New(emulator.Options{RowsPerPost: crashRowsPerPost, Tokens: []string{token}})
	hold := func(r *http.Request) {
		select {
		case <-time.After(crashHold):
		case <-r.Context().Done():
		}
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/rows") {
			srv.ServeHTTP(w, r)
			return
		}
		// Read the whole body first: net/http notices a closed connection (and cancels the
		// request's context) only once the body was consumed.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // the client died while sending: nothing reaches the emulator
		}
		hold(r)
		if r.Context().Err() != nil {
			return // the client died before the request "reached Power BI"
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		srv.ServeHTTP(w, r)
		// The emulator only writes the status of a successful POST rows; net/http sends it when
		// the handler returns, so the client sees the 2xx crashHold after the rows were stored.
		hold(r)
	}))
	t.Cleanup(hs.Close)
	return &emulatortest.Emulator{URL: hs.URL + "/v1.0/myorg", Root: hs.URL, Token: token, Server: srv, HTTP: hs,
		Client: hs.Client()}
}

// crashAccepted returns the rows the emulator ever stored in Telemetry/Readings (0 before the
// dataset exists).
func crashAccepted(emu *emulatortest.Emulator) int64 {
	for _, d := range emu.Server.DatasetsByName("Telemetry") {
		for _, tb := range d.Tables {
			if tb.Name == "Readings" {
				return tb.Accepted
			}
		}
	}
	return 0
}

// crashSpoolState is what the test reads from the spool file between two runs of the binary.
type crashSpoolState struct {
	requeued  int64 // rows re-queued at Open over the file's life (spool.Stats.Requeued)
	line      int64 // backfill checkpoint: records of the input durably spooled, over all runs
	delivered int64 // rows acked over the spool's life
	backlog   int   // rows waiting (after the re-queue)
	deadLet   int
}

// crashInspect opens the spool file in the test process as the binary's next start would
// (re-queueing rows left in flight), runs Check (bbolt's tx.Check plus the spool's own
// invariants) and reads the state.
func crashInspect(t *testing.T, path, checkpointKey string) crashSpoolState {
	t.Helper()
	s, err := spool.Open(path, spool.Options{})
	if err != nil {
		t.Fatalf("open spool after kill: %v", err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close spool: %v", err)
		}
	}()
	if err := s.Check(); err != nil {
		t.Fatalf("spool check after kill: %v", err)
	}
	st := s.Stats()
	if st.Quarantined != 0 {
		t.Fatalf("spool file was quarantined as corrupt after a kill")
	}
	if st.InFlight != 0 {
		t.Fatalf("%d rows still in flight after Open re-queued them", st.InFlight)
	}
	q := spool.QueueKey{Dataset: "Telemetry", Table: "Readings"}
	out := crashSpoolState{requeued: st.Requeued, delivered: s.Delivered(q),
		backlog: s.Backlog(q).Rows, deadLet: st.DeadLetters}
	raw, err := s.Meta(checkpointKey)
	if err != nil {
		t.Fatal(err)
	}
	if raw != nil {
		var cp struct {
			Line int64 `json:"line"`
		}
		if err := json.Unmarshal(raw, &cp); err != nil {
			t.Fatalf("checkpoint %s: %v", raw, err)
		}
		out.line = cp.Line
	}
	return out
}

// crashSeed returns the seed of the kill moments: CRASH_SEED if set (to replay a failure), else
// a fresh one. The test logs it.
func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv("CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CRASH_SEED: %v", err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// TestCrashBackfillSurvivesSIGKILL is the acceptance test of the durable spool: a 200,000-row
// backfill is killed with SIGKILL at 20 random moments (while reading, while posting, near the
// end) and restarted each time. Every row reaches the emulator, none is missing, and duplicates
// are at most the rows the spool found in flight at the kills. The spool file passes Check after
// every kill, and the backfill resumes from its checkpoint instead of re-reading the file.
func TestCrashBackfillSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("crash test: 21 runs of the binary, ~30 s")
	}
	testStart := time.Now()
	seed := crashSeed(t)
	t.Logf("seed %d (replay with CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	emu := crashEmulator(t)
	registerSecret(t, "emulator token", emu.Token)
	dir := t.TempDir()
	want := genRows(0, crashRows)
	input := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, input, want)
	// Default service limits (120 POSTs/min, 1,000,000 rows/h), 2,000 rows per POST, one POST
	// in flight: a backlog drains with every pending POST, so with 5 the 20 kills could leave up
	// to 200,000 duplicates, and 200,000 rows plus those cross the 250,000 rows of the large tier
	// (120 POSTs per hour; this test sends more), which would stall the test for an hour.
	cfg := writeConfig(t, dir, emu, limits{rowsPerPost: crashRowsPerPost, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 1})
	spoolPath := filepath.Join(dir, "spool.db")
	abs, err := filepath.Abs(input)
	if err != nil {
		t.Fatal(err)
	}
	cpKey := "file/" + abs
	env := []string{"E2E_TOKEN=" + emu.Token}
	args := []string{"backfill", "-config", cfg, "-table", "Telemetry/Readings", input}

	var (
		inflightSum int64 // duplicate bound: rows in flight at the kills
		prev        crashSpoolState
		prevExtra   int64
		phases      = map[string]int{}
	)
	for k := range crashKills {
		p := crashStart(t, dir, fmt.Sprintf("run%02d", k), env, args...)
		moment := crashMoment(t, k, rng, emu, p, prevExtra)
		killed := p.kill()
		p.capture(t)
		if !killed {
			t.Fatalf("kill %d (%s): pbi-pusher had already exited (%v)\nstderr:\n%s", k, moment, p.err, tail(p.readStderr(), 30))
		}
		alive := time.Since(p.started)
		st := crashInspect(t, spoolPath, cpKey)
		// The rows whose in-flight marker survived the kill: taken for a POST and not answered.
		// Only they may have reached the emulator without being acked.
		inflight := st.requeued - prev.requeued
		inflightSum += inflight
		// The spool's ledger: every record whose checkpoint was committed is either acked
		// (delivered) or still queued. Nothing is lost or doubled inside the spool.
		if st.delivered+int64(st.backlog) != st.line || st.deadLet != 0 {
			t.Fatalf("kill %d: spool ledger broken: delivered %d + queued %d != checkpoint line %d (dead letters %d)",
				k, st.delivered, st.backlog, st.line, st.deadLet)
		}
		if st.line < prev.line || st.delivered < prev.delivered {
			t.Fatalf("kill %d: spool went back: checkpoint %d→%d, delivered %d→%d", k, prev.line, st.line, prev.delivered, st.delivered)
		}
		where := "posting"
		switch {
		case st.line < crashRows:
			where = "reading"
		case st.backlog <= crashRows*15/100:
			where = "end"
		}
		phases[where]++
		// Rows the emulator holds beyond the acked ones: what the in-flight batches of the kills so
		// far delivered without an ack (the duplicates to come).
		extra := crashAccepted(emu) - st.delivered
		t.Logf("kill %2d %-7s at %-22s alive %6s: checkpoint %6d (+%6d) acked %6d queued %6d in flight %4d (reached the emulator %4d)",
			k, where, moment, alive.Round(time.Millisecond), st.line, st.line-prev.line, st.delivered, st.backlog, inflight,
			extra-prevExtra)
		prev, prevExtra = st, extra
	}

	// The 21st run goes to the end.
	p := crashStart(t, dir, "final", env, args...)
	code := p.wait(t, 3*time.Minute)
	stdout := p.readStdout()
	if code != 0 {
		t.Fatalf("final run: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, tail(p.readStderr(), 40))
	}
	t.Logf("final run (%s):\n%s", time.Since(p.started).Round(time.Millisecond), stdout)
	final := crashInspect(t, spoolPath, cpKey)
	if final.backlog != 0 || final.line != crashRows || final.delivered != crashRows || final.requeued != prev.requeued {
		t.Fatalf("final spool: %d rows queued, checkpoint at line %d, %d rows acked, %d re-queued (before: %d); want 0, %d, %d, unchanged",
			final.backlog, final.line, final.delivered, final.requeued, prev.requeued, crashRows, crashRows)
	}

	// Resume: every killed run started at the checkpoint of the one before (the checkpoint never
	// went back and the spool never held a row twice: checked at every kill), and the final run
	// read only what the checkpoint had not covered.
	t.Logf("records spooled across the %d runs (checkpoint advances): %d; re-reading the file at every start would read %d",
		crashKills+1, final.line, (crashKills+1)*crashRows)
	read, resumed := crashSummary(t, stdout, "rows read: "), crashSummary(t, stdout, "resumed after: ")
	if resumed != prev.line || read+resumed != crashRows {
		t.Errorf("final run read %d and resumed after %d; want resumed after %d (the checkpoint) and %d in all",
			read, resumed, prev.line, crashRows)
	}

	// Every row at the emulator, values intact; duplicates bounded by the rows in flight at kills.
	st := datasetStats(t, emu)
	got := emu.Server.Rows(st.ID, "Readings")
	missing, dups := crashCount(t, want, got)
	t.Logf("emulator: %d rows for %d sent: %d missing, %d duplicates; rows in flight at the %d kills: %d; posts %d, throttles %v, peak posts/min %d, peak pending %d",
		len(got), crashRows, missing, dups, crashKills, inflightSum, st.Posts, st.Throttles, st.PeakPostsPerMinute, st.PeakPending)
	t.Logf("kills by phase: %v; seed %d; wall time %s", phases, seed, time.Since(testStart).Round(time.Millisecond))
	if missing != 0 {
		t.Errorf("%d rows missing at the emulator", missing)
	}
	if int64(dups) > inflightSum {
		t.Errorf("%d duplicates, more than the %d rows in flight at the kills", dups, inflightSum)
	}
	if phases["reading"] == 0 || phases["posting"] == 0 || phases["end"] == 0 {
		t.Errorf("kills by phase %v: want kills while reading, while posting and near the end", phases)
	}
}

// crashMoment waits for the moment of kill k and describes it. Kills 0-5 land a random
// 60-260 ms after the start: the binary reads about 200,000 rows/s once started (~50 ms), so the
// first runs are killed while reading, where the checkpoint matters. Kills 6-15 wait until the
// emulator holds a rising share of the distinct rows (5%-80%), then a random delay of up to
// 500 ms; kills 16-19 do the same at 85%-95%, with up to 150 ms. Waiting on the emulator rather
// than on the clock keeps the kills spread over the backfill whatever the machine's speed. extra
// is how many rows the emulator holds beyond the spool's acked count (the duplicates so far), so
// that progress counts distinct rows.
func crashMoment(t *testing.T, k int, rng *rand.Rand, emu *emulatortest.Emulator, p *crashProc, extra int64) string {
	t.Helper()
	var target int64
	var delay time.Duration
	switch {
	case k < 6:
		delay = 60*time.Millisecond + crashDur(rng, 200*time.Millisecond)
	case k < 16:
		f := 0.05 + float64(k-6)*0.075 + rng.Float64()*0.04
		target, delay = int64(f*crashRows), crashDur(rng, 500*time.Millisecond)
	default:
		f := 0.85 + float64(k-16)*0.03 + rng.Float64()*0.015
		target, delay = int64(f*crashRows), crashDur(rng, 150*time.Millisecond)
	}
	if target > 0 {
		deadline := time.Now().Add(90 * time.Second)
		for crashAccepted(emu)-extra < target && !p.exited() {
			if time.Now().After(deadline) {
				p.kill()
				t.Fatalf("kill %d: the emulator did not reach %d distinct rows within 90s (has %d)\nstderr:\n%s",
					k, target, crashAccepted(emu)-extra, tail(p.readStderr(), 30))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	select {
	case <-time.After(delay):
	case <-p.done:
	}
	if target > 0 {
		return fmt.Sprintf("emu>=%d+%s", target, delay.Round(time.Millisecond))
	}
	return fmt.Sprintf("start+%s", delay.Round(time.Millisecond))
}

// crashDur returns a random duration in [0, d).
func crashDur(rng *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(rng.Int64N(int64(d)))
}

// crashSummary returns the number after prefix in the backfill summary (0 if the line is absent).
func crashSummary(t *testing.T, stdout, prefix string) int64 {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				t.Fatalf("summary line %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}

// crashCount checks every row the emulator holds against want (a known Seq, values intact) and
// returns how many want rows are missing and how many extra copies it holds.
func crashCount(t *testing.T, want []row, got []map[string]any) (missing, dups int) {
	t.Helper()
	bySeq := make(map[int64]row, len(want))
	for _, r := range want {
		bySeq[r.Seq] = r
	}
	seen := make(map[int64]int, len(want))
	bad := 0
	for _, g := range got {
		seq, err := toInt64(g["Seq"])
		if err != nil {
			t.Fatalf("row without a valid Seq: %v (%v)", g, err)
		}
		w, ok := bySeq[seq]
		if !ok {
			t.Fatalf("row the input does not have: %v", g)
		}
		if msg := diffRow(w, g); msg != "" && bad < 5 {
			bad++
			t.Errorf("row Seq=%d: %s", seq, msg)
		}
		seen[seq]++
	}
	for seq := range bySeq {
		switch n := seen[seq]; {
		case n == 0:
			missing++
		case n > 1:
			dups += n - 1
		}
	}
	return missing, dups
}

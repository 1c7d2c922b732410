package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// opsFrame is one redraw of the backfill progress line.
var opsFrame = regexp.MustCompile(`^read ([\d,]+)/([\d,]+) \((\d+)%\)  delivered ([\d,]+)  backlog ([\d,]+)  ([\d,]+) rows/s  ETA (~\S+|unknown)`)

func opsNum(s string) int64 {
	n, _ := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	return n
}

// TestOpsBackfillProgressBarOnPTY runs backfill with stderr on a pseudo-terminal and checks the
// rendered progress line: redrawn in place, rows read of the total with a percentage, rows
// delivered, a rate and an ETA, ending at 100 % with everything delivered.
func TestOpsBackfillProgressBarOnPTY(t *testing.T) {
	const total = 20000
	// Every POST takes 250 ms, so the load lasts ~5 s: about ten redraws at 500 ms.
	emu := emulatortest.Start(t, emulator.Options{SlowRate: 1, SlowDelay: 250 * time.Millisecond})
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	want := genRows(0, total)
	writeJSONL(t, in, want)
	cfg := writeConfig(t, dir, emu, limits{rowsPerPost: 1000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5})
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Logs share the terminal with the bar; keep them to warnings.
	if err := os.WriteFile(cfg, bytes.Replace(text, []byte("level: debug"), []byte("level: warn"), 1), 0o600); err != nil {
		t.Fatal(err)
	}

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 200}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, "backfill", "-config", cfg, "-table", "Telemetry/Readings", in)
	cmd.Env = append(os.Environ(), "E2E_TOKEN="+emu.Token)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = tty.Close() // the child holds its copy; EOF/EIO on ptmx once it exits
	rendered := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(ptmx) // ends with EIO when the last slave fd closes
		rendered <- b
	}()
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("backfill: %v\nstdout:\n%s", err, stdout.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		t.Fatal("backfill did not finish within 60 s")
	}
	var out []byte
	select {
	case out = <-rendered:
	case <-time.After(5 * time.Second):
		t.Fatal("the pseudo-terminal did not reach EOF")
	}
	screen := strings.ReplaceAll(string(out), "\r\n", "\n") // the tty's ONLCR

	if !strings.Contains(screen, "\r\x1b[2K") {
		t.Fatalf("no in-place redraw (CR + erase line) on the terminal:\n%q", screen)
	}
	var frames [][]string
	for _, f := range strings.Split(screen, "\r\x1b[2K")[1:] {
		m := opsFrame.FindStringSubmatch(f)
		if m == nil {
			t.Errorf("unexpected progress frame %q", f)
			continue
		}
		frames = append(frames, m)
	}
	if len(frames) < 4 {
		t.Fatalf("%d progress frames, want several over a ~5 s load:\n%q", len(frames), screen)
	}
	var mid []string
	var lastDelivered int64
	for _, f := range frames {
		if opsNum(f[2]) != total {
			t.Errorf("frame shows a total of %s, want %d", f[2], total)
		}
		d := opsNum(f[4])
		if d < lastDelivered {
			t.Errorf("delivered went back from %d to %d", lastDelivered, d)
		}
		lastDelivered = d
		if mid == nil && d > 0 && d < total && opsNum(f[6]) > 0 && strings.HasPrefix(f[7], "~") {
			mid = f
		}
	}
	if mid == nil {
		t.Errorf("no frame during the load shows rows delivered, a rate and an ETA:\n%q", screen)
	} else {
		t.Logf("a frame during the load: %q", mid[0])
	}
	last := frames[len(frames)-1]
	t.Logf("%d frames; last: %q", len(frames), last[0])
	if opsNum(last[1]) != total || last[3] != "100" || opsNum(last[4]) != total || opsNum(last[5]) != 0 || last[7] != "~0s" {
		t.Errorf("last frame %q, want read %d/%d (100%%), delivered %d, backlog 0, ETA ~0s", last[0], total, total, total)
	}
	if !strings.HasSuffix(strings.TrimRight(screen, "\n"), last[0]) && !strings.Contains(screen, last[0]+"\n") {
		t.Errorf("the final line is not left on the terminal")
	}
	if !strings.Contains(stdout.String(), fmt.Sprintf("rows delivered: %d", total)) {
		t.Errorf("summary on stdout lacks the delivered count:\n%s", stdout.String())
	}
	st := datasetStats(t, emu)
	checkDelivered(t, want, emu.Server.Rows(st.ID, "Readings"))
}

// opsCompactRows writes n minimal valid JSONL rows.
func opsCompactRows(t *testing.T, path string, n int) {
	t.Helper()
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"Seq":%d,"Device":"d","At":"2026-11-01T08:00:00Z","Value":%d.5,"Ok":true}`+"\n", i, i%100)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOpsBackfillDryRunPlansAndWarns runs backfill -dry-run on prepared files: one that overflows
// a basicFIFO table's 200,000 rows, one that crosses a retention-None table's 250,000-row tier,
// and one with bad rows. It checks the plan lines, the warnings and the exit codes, and that
// nothing was spooled or sent.
func TestOpsBackfillDryRunPlansAndWarns(t *testing.T) {
	dir := t.TempDir()
	cols := `        columns:
          - {name: Seq, type: Int64}
          - {name: Device, type: String}
          - {name: At, type: DateTime}
          - {name: Value, type: Double}
          - {name: Ok, type: Boolean}
`
	spool := filepath.Join(dir, "spool.db")
	cfg := filepath.Join(dir, "config.yaml")
	// api_url points nowhere: a dry run must not touch the network.
	text := `powerbi:
  api_url: http://127.0.0.1:1/v1.0/myorg
auth:
  method: static_token
  token: dry-run-token
spool:
  path: ` + spool + `
datasets:
  - name: Fifo
    retention: basicFIFO
    tables:
      - name: Readings
` + cols + `  - name: Big
    retention: None
    tables:
      - name: Readings
` + cols
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo, big, bad := filepath.Join(dir, "fifo.jsonl"), filepath.Join(dir, "big.jsonl"), filepath.Join(dir, "bad.jsonl")
	opsCompactRows(t, fifo, 200_001)
	opsCompactRows(t, big, 250_001)
	opsCompactRows(t, bad, 10)
	lines, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	ls := strings.SplitAfter(string(lines), "\n")
	ls[2] = "{not json\n"
	ls[4] = `{"Seq":4,"Device":"d","At":"2026-11-01T08:00:00Z","Value":"abc","Ok":true}` + "\n"
	ls[7] = `{"Seq":9223372036854775807,"Device":"d","At":"2026-11-01T08:00:00Z","Value":1,"Ok":true}` + "\n"
	if err := os.WriteFile(bad, []byte(strings.Join(ls, "")), 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, table, file string
		code              int
		want, absent      []string
	}{
		{"basicFIFO overflow", "Fifo/Readings", fifo, 0, []string{
			"Dry run for Fifo/Readings (retention basicFIFO): nothing was spooled or sent.\n",
			"records read: 200,001\n", "rows good:    200,001\n", "rows bad:     0 (would be dead-lettered)\n",
			// greedy: 21 POSTs, 5 at a time, well within every window
			"plan: 21 POSTs of up to 10,000 rows; under a minute at 1,000,000 rows/hour, 120 POSTs/minute\n",
			"binding limit: 5 pending POSTs\n",
			"warning: the table would reach 200,001 rows but basicFIFO keeps the newest 200,000: the oldest 1 are evicted\n",
		}, []string{"POSTs/hour past"}},
		{"None table crossing 250,000", "Big/Readings", big, 0, []string{
			"Dry run for Big/Readings (retention None): nothing was spooled or sent.\n",
			"records read: 250,001\n", "rows good:    250,001\n",
			"plan: 26 POSTs of up to 10,000 rows; under a minute at 1,000,000 rows/hour, 120 POSTs/minute (120 POSTs/hour past 250,000 rows)\n",
			"warning: after 250,000 rows of this load the table passes 250,000 rows: POSTs drop from 120 per minute to 120 per hour\n",
		}, []string{"basicFIFO keeps"}},
		{"bad rows", "Big/Readings", bad, 3, []string{
			"records read: 10\n", "rows good:    7\n", "rows bad:     3 (would be dead-lettered)\n",
			"  " + bad + ":3: ", "  " + bad + ":5: ", "  " + bad + ":8: ",
			// 7 rows never reach the 250,000-row tier: no hourly-limit note, no warning.
			"plan: 1 POST of up to 10,000 rows; under a minute at 1,000,000 rows/hour, 120 POSTs/minute\n",
		}, []string{"warning:", "POSTs/hour past"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			res := runBinary(t, 60*time.Second, nil, "backfill", "-dry-run", "-config", cfg, "-table", tc.table, tc.file)
			t.Logf("exit %d in %s; stdout:\n%s", res.code, time.Since(start).Round(time.Millisecond), res.stdout)
			if res.code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", res.code, tc.code, res.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("plan lacks %q", w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(res.stdout, a) {
					t.Errorf("plan has %q, which does not apply", a)
				}
			}
		})
	}
	// The bad rows' reasons name the problem.
	res := runBinary(t, 30*time.Second, nil, "backfill", "-dry-run", "-config", cfg, "-table", "Big/Readings", bad)
	for _, l := range strings.Split(res.stdout, "\n") {
		if strings.HasPrefix(l, "  "+bad+":") && len(strings.TrimSpace(l[len(bad)+4:])) < 5 {
			t.Errorf("bad-row line without a reason: %q", l)
		}
	}
	if _, err := os.Stat(spool); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dry run created the spool file (%v)", err)
	}
}

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// inputEmulator is an emulator with default limits, and the config pointing at it.
func inputEmulator(t *testing.T) (*emulatortest.Emulator, string, string) {
	t.Helper()
	emu := emulatortest.Start(t, emulator.Options{})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5})
	return emu, dir, cfg
}

func inputWrite(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noRequests fails t when the emulator saw pbi-pusher create or post anything.
func noRequests(t *testing.T, emu *emulatortest.Emulator) {
	t.Helper()
	if st := emu.Server.Stats(); len(st.Datasets) != 0 {
		t.Errorf("the emulator holds %d datasets: pbi-pusher reached Power BI before refusing", len(st.Datasets))
	}
}

// TestInputUsageErrorsExit2BeforeAnyRequest: a header no column matches, a format that cannot be
// derived, a missing file and a table not in the config end with exit 2 and a message, before
// any request reaches Power BI.
func TestInputUsageErrorsExit2BeforeAnyRequest(t *testing.T) {
	t.Parallel()
	emu, dir, cfg := inputEmulator(t)
	noMatch := inputWrite(t, dir, "nomatch.csv", "foo,bar\n1,2\n3,4\n")
	txt := inputWrite(t, dir, "data.txt", "{}\n")
	env := []string{"E2E_TOKEN=" + emu.Token}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"header matches no column", []string{"-table", "Telemetry/Readings", noMatch},
			[]string{"[foo, bar]", "Seq, Device, At, Value, Ok", "nomatch.csv"}},
		{"dry run of the same", []string{"-dry-run", "-table", "Telemetry/Readings", noMatch}, []string{"[foo, bar]"}},
		{"stdin without -format", []string{"-table", "Telemetry/Readings", "-"}, []string{"-format"}},
		{"unknown extension", []string{"-table", "Telemetry/Readings", txt}, []string{"-format"}},
		{"missing file", []string{"-table", "Telemetry/Readings", filepath.Join(dir, "nope.jsonl")}, []string{"nope.jsonl"}},
		{"table not in config", []string{"-table", "Telemetry/Nope", noMatch}, []string{"Nope"}},
		{"unknown encoding", []string{"-encoding", "ebcdic", "-table", "Telemetry/Readings", noMatch}, []string{"ebcdic"}},
	}
	for _, tc := range tests {
		res := runBinary(t, time.Minute, env, append([]string{"backfill", "-config", cfg}, tc.args...)...)
		if res.code != 2 {
			t.Errorf("%s: exit %d, want 2\nstderr:\n%s", tc.name, res.code, res.stderr)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(res.stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, w, res.stderr)
			}
		}
		if strings.Contains(res.stdout, "rows delivered") {
			t.Errorf("%s: printed a summary:\n%s", tc.name, res.stdout)
		}
	}
	noRequests(t, emu)
}

// countLogs counts JSON log lines at level with msg containing text.
func countLogs(stderr, level, text string) int {
	n := 0
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, `"level":"`+level+`"`) && strings.Contains(l, text) {
			n++
		}
	}
	return n
}

// TestInputHeaderCaseOnlyMapsAndPartialWarnsOnce: a lower-case header maps onto the capitalised
// columns (noted once) and delivers every value; a header that maps partly warns once, however
// many rows follow; a Latin-1 file with -encoding latin1 arrives unchanged; no U+FFFD appears.
func TestInputHeaderCaseOnlyMapsAndPartialWarnsOnce(t *testing.T) {
	t.Parallel()
	emu, dir, cfg := inputEmulator(t)
	lower := inputWrite(t, dir, "lower.csv", "seq,device,at,value,ok\n1,a,2026-01-01T00:00:00Z,1.5,true\n2,b,2026-01-01T00:00:01Z,2.5,false\n")
	var partial strings.Builder
	partial.WriteString("Seq,Device,Extra\n")
	for i := 3; i < 103; i++ {
		fmt.Fprintf(&partial, "%d,p%d,x\n", i, i)
	}
	part := inputWrite(t, dir, "partial.csv", partial.String())
	latin := inputWrite(t, dir, "latin1.csv", "Seq,Device\n200,Z\xfcrich \xe9t\xe9\n")
	env := []string{"E2E_TOKEN=" + emu.Token}
	res := runBinary(t, 2*time.Minute, env, "backfill", "-config", cfg, "-table", "Telemetry/Readings", lower, part)
	if res.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, tail(res.stderr, 20))
	}
	if n := countLogs(res.stderr, "WARN", "maps only partly"); n != 1 {
		t.Errorf("partial mapping warned %d times, want once:\n%s", n, tail(res.stderr, 20))
	}
	if n := countLogs(res.stderr, "INFO", "only in case"); n != 1 {
		t.Errorf("case-only mapping noted %d times, want once", n)
	}
	res = runBinary(t, 2*time.Minute, env, "backfill", "-config", cfg, "-encoding", "latin1", "-table", "Telemetry/Readings", latin)
	if res.code != 0 {
		t.Fatalf("latin1: exit %d\nstderr:\n%s", res.code, tail(res.stderr, 20))
	}
	rows, _ := ingestRows(t, emu)
	if len(rows) != 103 {
		t.Fatalf("emulator holds %d rows, want 103", len(rows))
	}
	bySeq := map[string]map[string]any{}
	for _, r := range rows {
		bySeq[fmt.Sprint(r["Seq"])] = r
		for k, v := range r {
			if s, ok := v.(string); ok && strings.ContainsRune(s, '\ufffd') {
				t.Errorf("row %v: %s holds U+FFFD", r["Seq"], k)
			}
		}
	}
	if r := bySeq["1"]; r == nil || r["Device"] != "a" || fmt.Sprint(r["Value"]) != "1.5" || r["Ok"] != true {
		t.Errorf("case-only header row 1 arrived as %v", r)
	}
	if r := bySeq["200"]; r == nil || r["Device"] != "Zürich été" {
		t.Errorf("latin1 row arrived as %v", r)
	}
}

// TestInputBackfillThenFollowSendsNothingTwice: a file backfilled and then followed by `run`
// continues where the backfill stopped: only the appended rows are sent.
func TestInputBackfillThenFollowSendsNothingTwice(t *testing.T) {
	t.Parallel()
	l := limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	emu := ingestEmulator(t, l, emulator.Options{})
	dir := t.TempDir()
	input := filepath.Join(dir, "events.jsonl")
	first, more := genRows(0, 300), genRows(300, 200)
	writeJSONL(t, input, first)
	cfg := ingestConfig(t, dir, emu, l, fmt.Sprintf("sources:\n  - type: file\n    table: Telemetry/Readings\n    paths: [%q]\n    follow: true\n", input))
	res := runBinary(t, 2*time.Minute, []string{"E2E_TOKEN=" + emu.Token}, "backfill", "-config", cfg, "-table", "Telemetry/Readings", input)
	if res.code != 0 {
		t.Fatalf("backfill exit %d\nstderr:\n%s", res.code, tail(res.stderr, 20))
	}
	p := ingestStart(t, "run", cfg, "E2E_TOKEN="+emu.Token)
	f, err := os.OpenFile(input, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range more {
		if _, err := f.Write(append(ingestRowJSON(r, i), '\n')); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	ingestAwaitDistinct(t, emu, 500, time.Minute, p)
	time.Sleep(2 * time.Second) // room for a duplicate to show
	p.term(t)
	rows, _ := ingestRows(t, emu)
	if dups := ingestDups(t, append(first, more...), rows); dups != 0 || len(rows) != 500 {
		t.Errorf("emulator holds %d rows with %d duplicates, want 500 and 0", len(rows), dups)
	}
}

// TestInputReplayAfterSchemaFix: rows dead-lettered by the schema keep their CSV form; after the
// config is fixed, `spool replay` maps them with it: the rescued row is delivered, the one that
// still fails stays a dead letter at its original position with the new reason.
func TestInputReplayAfterSchemaFix(t *testing.T) {
	t.Parallel()
	l := limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	emu := ingestEmulator(t, l, emulator.Options{})
	dir := t.TempDir()
	// run needs a source; an idle HTTP one will do.
	cfg := ingestConfig(t, dir, emu, l, "sources:\n  - type: http\n    table: Telemetry/Readings\n    listen: 127.0.0.1:0\n")
	setConfig := func(device string) {
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := regexp.MustCompile(`\{name: Device, type: String[^}]*\}`).ReplaceAllString(string(b), device)
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setConfig("{name: Device, type: String, required: true}")
	// The header lacks the required Device: every row is dead-lettered (in its CSV form).
	input := inputWrite(t, dir, "in.csv", "Seq,Value\n1,1.5\n2,abc\n")
	env := []string{"E2E_TOKEN=" + emu.Token}
	res := runBinary(t, time.Minute, env, "backfill", "-config", cfg, "-table", "Telemetry/Readings", input)
	if res.code != 3 {
		t.Fatalf("backfill exit %d, want 3 (rows dead-lettered)\nstderr:\n%s", res.code, tail(res.stderr, 20))
	}
	setConfig("{name: Device, type: String, default: unknown}")
	res = runBinary(t, time.Minute, env, "spool", "replay", "-config", cfg, "-all")
	if res.code != 0 || !strings.Contains(res.stdout, "replayed 1 ") {
		t.Fatalf("replay exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	var dead []struct{ Position, Reason, Data string }
	spoolJSON(t, cfg, "dead-letters", env, &dead)
	if len(dead) != 1 || dead[0].Position != input+":3" || !strings.Contains(dead[0].Reason, "Value") || dead[0].Data != "2,abc" {
		t.Fatalf("dead letters after replay: %+v; want the row at %s:3 with a Value reason", dead, input)
	}
	p := ingestStart(t, "run", cfg, env...)
	ingestAwaitStored(t, emu, 1, time.Minute, p)
	time.Sleep(time.Second)
	p.term(t)
	rows, _ := ingestRows(t, emu)
	if len(rows) != 1 || fmt.Sprint(rows[0]["Seq"]) != "1" || rows[0]["Device"] != "unknown" || fmt.Sprint(rows[0]["Value"]) != "1.5" {
		t.Errorf("delivered %v, want the rescued row Seq 1 (Device unknown, Value 1.5)", rows)
	}
}

// TestInputRunRefusesNoMatchFileOnce: a followed CSV whose header maps onto no column is logged
// as ERROR once and its records are dead-lettered ("no field matched a column"), never sent as
// {}; a partly mapped one warns once and delivers its rows.
func TestInputRunRefusesNoMatchFileOnce(t *testing.T) {
	t.Parallel()
	l := limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	emu := ingestEmulator(t, l, emulator.Options{})
	dir := t.TempDir()
	noMatch := inputWrite(t, dir, "a-nomatch.csv", "foo,bar\n1,2\n3,4\n5,6\n")
	partial := inputWrite(t, dir, "b-partial.csv", "Seq,Device,Extra\n1,a,x\n2,b,y\n")
	cfg := ingestConfig(t, dir, emu, l, fmt.Sprintf("sources:\n  - type: file\n    table: Telemetry/Readings\n    paths: [%q, %q]\n", noMatch, partial))
	env := []string{"E2E_TOKEN=" + emu.Token}
	p := ingestStart(t, "run", cfg, env...)
	ingestAwaitStored(t, emu, 2, time.Minute, p)
	time.Sleep(time.Second)
	p.term(t)
	if n := len(p.logsWith("input refused: no field maps to a column; its records are dead-lettered")); n != 1 {
		t.Errorf("refusal logged %d times, want once", n)
	}
	if n := countLogs(p.stderr(), "WARN", "maps only partly"); n != 1 {
		t.Errorf("partial mapping warned %d times, want once", n)
	}
	var dead []struct{ Position, Reason string }
	spoolJSON(t, cfg, "dead-letters", env, &dead)
	if len(dead) != 3 {
		t.Fatalf("%d dead letters, want the 3 records of the refused file: %+v", len(dead), dead)
	}
	for _, d := range dead {
		if !strings.Contains(d.Reason, "no field matched a column") || !strings.HasPrefix(d.Position, noMatch+":") {
			t.Errorf("dead letter %+v", d)
		}
	}
	if n := ingestStored(emu); n != 2 {
		t.Errorf("emulator stored %d rows, want 2 (no empty rows)", n)
	}
}

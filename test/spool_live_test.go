package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
)

// TestSpoolCommandsAgainstTheRunningAgent (issue 14, acceptance 1): while `run` delivers, `spool
// stats`, `dead-letters -table X` and `replay -id N` work against the running agent (through its
// admin API, found through the config's admin.listen); they print what they print against the
// stopped agent's file; the replayed row arrives at the emulator.
func TestSpoolCommandsAgainstTheRunningAgent(t *testing.T) {
	t.Parallel()
	l := limits{rowsPerPost: 100, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	emu := ingestEmulator(t, l, emulator.Options{})
	dir := t.TempDir()
	input := filepath.Join(dir, "in.jsonl")
	// Value is required here, so the two rows without it are dead letters; their raw input is
	// a row Power BI accepts (Value is nullable there): replaying one delivers it.
	cfgText := fmt.Sprintf(`powerbi:
  api_url: %s
auth:
  method: static_token
  token: ${E2E_TOKEN}
spool:
  path: %s
batch:
  linger: 50ms
admin:
  listen: %s
log:
  format: json
  level: info
shutdown_timeout: 5s
%s
sources:
  - type: file
    table: Telemetry/Readings
    paths: [%s]
    follow: true
`, emu.URL, filepath.Join(dir, "spool.db"), ingestFreePort(t),
		strings.Replace(datasetsYAML(l), "{name: Value, type: Double}", "{name: Value, type: Double, required: true}", 1), input)
	if !strings.Contains(cfgText, "required: true") {
		t.Fatal("the datasets block changed; update the test")
	}
	cfg := opsWriteConfig(t, dir, cfgText)
	good := genRows(0, 60)
	opsAppendJSONL(t, input, good[:30])
	opsAppend(t, input, []byte(`{"Seq": 7000001, "Device": "no-value-1", "At": "2026-11-01T08:00:00Z", "Ok": true}`+"\n"+
		`{"Seq": 7000002, "Device": "no-value-2", "At": "2026-11-01T08:00:01Z", "Ok": false}`+"\n"))
	opsAppendJSONL(t, input, good[30:])
	env := []string{"E2E_TOKEN=" + emu.Token}
	registerSecret(t, "powerbi token", emu.Token)
	p := opsStart(t, env, "run", "-config", cfg)
	p.adminURL(20 * time.Second)
	ingestAwaitStored(t, emu, 60, 60*time.Second)

	spoolCmd := func(args ...string) string {
		t.Helper()
		res := runBinary(t, 30*time.Second, env, append(append([]string{"spool"}, args...), "-config", cfg)...)
		if res.code != 0 {
			t.Fatalf("spool %v: exit %d\n%s%s", args, res.code, res.stdout, res.stderr)
		}
		return res.stdout
	}
	// Against the running agent: the file is locked, so these go through the admin API.
	var dead []struct {
		ID       uint64 `json:"id"`
		Table    string `json:"table"`
		Position string `json:"position"`
		Data     string `json:"data"`
	}
	if err := json.Unmarshal([]byte(spoolCmd("dead-letters", "-table", "Telemetry/Readings", "-json")), &dead); err != nil {
		t.Fatal(err)
	}
	if len(dead) != 2 || !strings.Contains(dead[0].Data, "no-value-1") || !strings.Contains(dead[0].Position, "in.jsonl:31") {
		t.Fatalf("dead letters of the running agent: %+v", dead)
	}
	// Replay maps the record with the agent's config: still missing its required Value, it
	// stays a dead letter at its position, with the new reason.
	if out := spoolCmd("replay", "-id", fmt.Sprint(dead[0].ID)); !strings.Contains(out, "replayed 0 dead letters") {
		t.Fatalf("replay under the unchanged config: %q", out)
	}
	// Fix the schema (a default for Value), restart the agent, replay again: rescued.
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("agent exit %d", code)
	}
	fixed := strings.Replace(cfgText, "{name: Value, type: Double, required: true}", "{name: Value, type: Double, default: 0}", 1)
	cfg = opsWriteConfig(t, dir, fixed)
	p = opsStart(t, env, "run", "-config", cfg)
	p.adminURL(20 * time.Second)
	if out := spoolCmd("replay", "-id", fmt.Sprint(dead[0].ID)); !strings.Contains(out, "replayed 1 dead letters") {
		t.Fatalf("replay after the schema fix: %q", out)
	}
	ingestAwaitStored(t, emu, 61, 60*time.Second)
	rows, _ := ingestRows(t, emu)
	found := false
	for _, r := range rows {
		found = found || r["Device"] == "no-value-1"
	}
	if !found {
		t.Fatal("the replayed row is not in the emulator")
	}
	opsEventually(t, 10*time.Second, "the replayed row acknowledged", func() bool {
		var v struct {
			Queues []struct {
				Rows     int `json:"rows"`
				InFlight int `json:"in_flight"`
			} `json:"queues"`
			DeadLetters int `json:"dead_letters"`
		}
		if err := json.Unmarshal([]byte(spoolCmd("stats", "-json")), &v); err != nil {
			t.Fatal(err)
		}
		return len(v.Queues) == 1 && v.Queues[0].Rows == 0 && v.Queues[0].InFlight == 0 && v.DeadLetters == 1
	})
	running := map[string]string{}
	queries := [][]string{{"stats"}, {"dead-letters", "-table", "Telemetry/Readings"}, {"dead-letters", "-json"},
		{"dead-letters", "-reason", "required", "-json"}} // the one left: no-value-2
	for _, q := range queries {
		running[strings.Join(q, " ")] = spoolCmd(q...)
	}
	if !p.running() {
		t.Fatal("the agent stopped")
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("agent exit %d", code)
	}
	// Against the stopped agent's file: the same output.
	for _, q := range queries {
		key := strings.Join(q, " ")
		if got := spoolCmd(q...); got != running[key] {
			t.Errorf("spool %s differs.\nrunning agent:\n%s\nstopped agent:\n%s", key, running[key], got)
		}
	}
}

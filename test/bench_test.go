package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBenchCommandPrintsEveryFigure runs `pbi-pusher bench` at a tiny scale (the real one takes
// minutes): it must finish, print every figure of docs/benchmarks.md beside its peer or limit,
// and find the peers in test/bench/peers.
func TestBenchCommandPrintsEveryFigure(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binPath, "bench", "-peers", "bench/peers", "-ingest-rows", "2000", "-backfill-rows", "20000",
		"-rate-rows", "0", "-datasets", "3", "-dataset-rows", "2000", "-restart-mb", "8")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("bench still running after 3 minutes:\n%s", out)
	}
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	s := string(out)
	t.Logf("%s", s)
	for _, want := range []string{
		"JSON lines -> spool", "bare encoding/json decode", "write+fdatasync", "CPU per million rows",
		"20k-row backfill, default limits", "kill -9 halfway", "memory, 3 datasets", "delivery, 3 datasets",
		"restart with a", "`spool stats`, cold cache", "restart after kill -9, cold cache", "`spool stats` after kill -9",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("bench output lacks %q", want)
		}
	}
	if _, perr := exec.LookPath("python3"); perr == nil && !strings.Contains(s, "typical script") {
		t.Errorf("python3 is installed but the typical script did not run")
	}
	if !strings.Contains(s, "0 missing") {
		t.Errorf("kill -9 run lost rows or did not report them")
	}
}

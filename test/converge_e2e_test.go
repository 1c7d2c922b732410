package e2e

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
)

// Processes started at the same instant with the same dataset config (each its own spool and
// input) end in one dataset holding every row: a dataset resolved by name settles and every
// process picks the same one (README datasets[].name); one created by a loser is deleted.
// sink's TestConcurrentInstancesConvergeOnOneDataset forces the race; here real processes
// may or may not race, and either way must converge.
func TestConcurrentProcessesShareOneDatasetE2E(t *testing.T) {
	t.Parallel()
	const procs, perProc = 4, 300
	// each process its quarter of the dataset's limits (the emulator enforces them per dataset)
	l := limits{rowsPerPost: 100, postsPerMinute: 30, rowsPerHour: 250_000, pending: 1}
	emu := ingestEmulator(t, limits{100, 120, 1_000_000, 5}, emulator.Options{})
	var all []row
	cfgs, inputs := make([]string, procs), make([]string, procs)
	for i := range procs {
		dir := t.TempDir()
		rows := genRows(i*perProc, perProc)
		all = append(all, rows...)
		inputs[i] = filepath.Join(dir, "in.jsonl")
		writeJSONL(t, inputs[i], rows)
		cfgs[i] = writeConfig(t, dir, emu, l)
	}
	results := make([]result, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() {
			results[i] = runBinary(t, 2*time.Minute, []string{"E2E_TOKEN=" + emu.Token},
				"backfill", "-config", cfgs[i], "-table", "Telemetry/Readings", inputs[i])
		})
	}
	wg.Wait()
	created := 0
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("process %d exited %d\nstderr:\n%s", i, r.code, tail(r.stderr, 30))
		}
		created += strings.Count(r.stderr, `"msg":"created dataset"`)
	}
	ds := emu.Server.DatasetsByName("Telemetry")
	if len(ds) != 1 {
		t.Fatalf("%d datasets named Telemetry, want 1 (%d created)", len(ds), created)
	}
	t.Logf("%d processes, %d created a dataset, one kept: %s", procs, created, ds[0].ID)
	checkDelivered(t, all, emu.Server.Rows(ds[0].ID, "Readings"))
}

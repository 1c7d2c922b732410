package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// limits is the limits block pbi-pusher is configured with.
type limits struct{ rowsPerPost, postsPerMinute, rowsPerHour, pending int }

// datasetsYAML is the datasets block of every e2e config: dataset Telemetry, table Readings (the
// columns of genRows), with limits l.
func datasetsYAML(l limits) string {
	return fmt.Sprintf(`datasets:
  - name: Telemetry
    retention: None
    limits:
      rows_per_post: %d
      posts_per_minute: %d
      rows_per_hour: %d
      pending_posts: %d
    tables:
      - name: Readings
        columns:
          - {name: Seq, type: Int64}
          - {name: Device, type: String}
          - {name: At, type: DateTime}
          - {name: Value, type: Double}
          - {name: Ok, type: Boolean}
`, l.rowsPerPost, l.postsPerMinute, l.rowsPerHour, l.pending)
}

func writeConfig(t *testing.T, dir string, emu *emulatortest.Emulator, l limits) string {
	t.Helper()
	cfg := fmt.Sprintf(`powerbi:
  api_url: %s
auth:
  method: static_token
  token: ${E2E_TOKEN}
spool:
  path: %s
batch:
  linger: 100ms
log:
  format: json
  level: debug
%s`, emu.URL, filepath.Join(dir, "spool.db"), datasetsYAML(l))
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// backfillBoth generates a 25,000-row JSONL and a 25,000-row CSV file and backfills both.
func backfillBoth(t *testing.T, emu *emulatortest.Emulator, l limits) ([]row, result) {
	t.Helper()
	dir := t.TempDir()
	jsonRows, csvRows := genRows(0, 25000), genRows(25000, 25000)
	jl, cs := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.csv")
	writeJSONL(t, jl, jsonRows)
	writeCSV(t, cs, csvRows)
	cfg := writeConfig(t, dir, emu, l)
	res := runBinary(t, 4*time.Minute, []string{"E2E_TOKEN=" + emu.Token},
		"backfill", "-config", cfg, "-table", "Telemetry/Readings", jl, cs)
	t.Logf("stdout:\n%s", res.stdout)
	return append(jsonRows, csvRows...), res
}

func datasetStats(t *testing.T, emu *emulatortest.Emulator) emulator.DatasetStats {
	t.Helper()
	ds := emu.Server.DatasetsByName("Telemetry")
	if len(ds) != 1 {
		t.Fatalf("emulator has %d datasets named Telemetry, want 1", len(ds))
	}
	return ds[0]
}

func TestBackfillDeliversEveryRowWithinLimits(t *testing.T) {
	t.Parallel()
	l := limits{rowsPerPost: 1000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	// The emulator enforces exactly the configured limits: any excess is a 400 or 429.
	emu := emulatortest.Start(t, emulator.Options{
		RowsPerPost: l.rowsPerPost, PostsPerMinute: l.postsPerMinute, RowsPerHour: l.rowsPerHour, PendingPosts: l.pending,
	})
	want, res := backfillBoth(t, emu, l)
	if res.code != 0 {
		t.Fatalf("exit code %d, want 0\nstderr:\n%s", res.code, tail(res.stderr, 40))
	}
	for _, line := range []string{"rows read: 50000", "rows delivered: 50000", "rows rejected: 0"} {
		if !strings.Contains(res.stdout, line) {
			t.Errorf("summary lacks %q:\n%s", line, res.stdout)
		}
	}
	st := datasetStats(t, emu)
	checkDelivered(t, want, emu.Server.Rows(st.ID, "Readings"))
	if len(st.Throttles) != 0 || st.Rejected != 0 {
		t.Errorf("pbi-pusher broke a limit: throttles %v, rejected posts %d", st.Throttles, st.Rejected)
	}
	if st.PeakPostsPerMinute > int64(l.postsPerMinute) || st.PeakRowsPerHour > int64(l.rowsPerHour) || st.PeakPending > l.pending {
		t.Errorf("peaks over the limits: %d posts/min, %d rows/h, %d pending", st.PeakPostsPerMinute, st.PeakRowsPerHour, st.PeakPending)
	}
	if st.Posts < 50 {
		t.Errorf("%d posts for 50,000 rows at %d rows per post: batches were not filled sensibly", st.Posts, l.rowsPerPost)
	}
	t.Logf("posts=%d peakPostsPerMinute=%d peakPending=%d", st.Posts, st.PeakPostsPerMinute, st.PeakPending)
}

func TestBackfillWaitsOutThrottlingAndDeliversEverything(t *testing.T) {
	// Mostly waiting on the rate limits and Retry-After: runs beside the other waiting tests.
	t.Parallel()
	l := limits{rowsPerPost: 5000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	// The service admits fewer POSTs per minute than pbi-pusher is configured for (someone else
	// shares the budget) and injects some 429s, so pbi-pusher must take 429s, honour Retry-After
	// and still deliver every row exactly once.
	emu := emulatortest.Start(t, emulator.Options{
		RowsPerPost: l.rowsPerPost, PostsPerMinute: 6, ThrottleRate: 0.15, Seed: 42,
	})
	start := time.Now()
	want, res := backfillBoth(t, emu, l)
	if res.code != 0 {
		t.Fatalf("exit code %d, want 0\nstderr:\n%s", res.code, tail(res.stderr, 40))
	}
	st := datasetStats(t, emu)
	if st.Throttles[emulator.ReasonPostsPerMinute] == 0 {
		t.Errorf("expected posts-per-minute 429s from the emulator, got throttles %v", st.Throttles)
	}
	checkDelivered(t, want, emu.Server.Rows(st.ID, "Readings"))
	// 10 POSTs at 6 per rolling minute cannot finish before the first minute has passed: the
	// client must have waited for Retry-After rather than dropping or hammering.
	if el := time.Since(start); el < time.Minute {
		t.Errorf("finished in %s: faster than the emulator's window allows", el)
	}
	t.Logf("throttles=%v posts=%d peakPostsPerMinute=%d", st.Throttles, st.Posts, st.PeakPostsPerMinute)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/internal/progress"
)

// pipeline.Progress must stay convertible to progress.Snapshot (the CLI converts one into the other).
var _ = progress.Snapshot(Progress{})

// planConfig is a config with dataset Telemetry/Readings of the given retention and limits YAML.
func planConfig(t *testing.T, retention, limits string) *config.Config {
	t.Helper()
	y := fmt.Sprintf(`auth: {token: t}
spool: {path: /nonexistent/dir/never-opened.db}
powerbi: {api_url: "http://127.0.0.1:1/v1.0/myorg"}
datasets:
  - name: Telemetry
    retention: %s
    limits: %s
    tables:
      - name: Readings
        columns:
          - {name: device, type: String, required: true}
          - {name: value, type: Double}
          - {name: at, type: DateTime}
`, retention, limits)
	cfg, err := config.Parse("plan.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// tiny limits: 10 rows/POST, 2 POSTs/min, 60 rows/h; past 20 rows 1 POST/h.
const tinyLimits = "{rows_per_post: 10, posts_per_minute: 2, rows_per_hour: 60, posts_per_hour_large: 1, large_table_rows: 20}"

func TestDryRun(t *testing.T) {
	tests := []struct {
		name       string
		retention  string
		limits     string
		o          DryRunOptions
		read, good int64
		bad        []BadRow
		posts      int64
		duration   time.Duration
		tierAfter  int64
		warnings   []string
		wantErr    string
	}{
		{
			name: "good rows cross the large-table tier", retention: "None", limits: tinyLimits,
			o:    DryRunOptions{Paths: []string{"testdata/plan_good.jsonl"}},
			read: 25, good: 25, posts: 3, tierAfter: 20,
			// greedy (latency 250ms, linger 1s): 2 POSTs at once (2/minute); the table then holds 20
			// rows, so the last POST waits until the hour holds no POST: an hour after the 2nd answer
			duration: time.Hour + 500*time.Millisecond, warnings: []string{"after 20 rows of this load the table passes 20 rows: POSTs drop from 2 per minute to 1 per hour"},
		},
		{
			name: "table already large", retention: "None", limits: tinyLimits,
			o: DryRunOptions{Paths: []string{"testdata/plan_good.jsonl"}, TableRows: 30},
			// 1 POST an hour from the start: at 0, 1h and 2h (each an hour after the previous answer)
			read: 25, good: 25, posts: 3, tierAfter: 0, duration: 2*time.Hour + 750*time.Millisecond,
			warnings: []string{"the table already holds 20 rows or more: POSTs are limited to 1 per hour"},
		},
		{
			name: "basicFIFO has no tier", retention: "basicFIFO", limits: tinyLimits,
			o: DryRunOptions{Paths: []string{"testdata/plan_good.jsonl"}},
			// 2 POSTs at once, the third a minute after their answers (60 rows/hour never binds)
			read: 25, good: 25, posts: 3, tierAfter: -1, duration: time.Minute + 500*time.Millisecond,
		},
		{
			name: "basicFIFO eviction", retention: "basicFIFO", limits: tinyLimits,
			o:    DryRunOptions{Paths: []string{"testdata/plan_good.jsonl"}, TableRows: 199_990},
			read: 25, good: 25, posts: 3, tierAfter: -1, duration: time.Minute + 500*time.Millisecond,
			warnings: []string{"the table would reach 200,015 rows but basicFIFO keeps the newest 200,000: the oldest 15 are evicted"},
		},
		{
			name: "retention None cap", retention: "None", limits: "{}",
			o: DryRunOptions{Paths: []string{"testdata/plan_good.jsonl"}, TableRows: 4_999_990},
			// one partial POST: linger, then one round trip
			read: 25, good: 25, posts: 1, tierAfter: 0, duration: 1250 * time.Millisecond,
			warnings: []string{
				"the table would reach 5,000,015 rows, over the 5,000,000-row cap of a retention-None table: the last 15 rows would be refused and dead-lettered",
				"the table already holds 250,000 rows or more: POSTs are limited to 120 per hour",
			},
		},
		{
			name: "bad rows listed with positions and reasons, capped", retention: "None", limits: "{}",
			o:    DryRunOptions{Paths: []string{"testdata/plan_mixed.jsonl", "testdata/plan_rows.csv"}, MaxBadRows: 4},
			read: 10, good: 5, posts: 1, tierAfter: -1, duration: 1250 * time.Millisecond,
			bad: []BadRow{
				{"testdata/plan_mixed.jsonl:2", "json"},
				{"testdata/plan_mixed.jsonl:3", "device"},
				{"testdata/plan_mixed.jsonl:4", "value"},
				{"testdata/plan_mixed.jsonl:6", "json"},
			},
		},
		{
			name: "stdin with an explicit format", retention: "None", limits: "{}",
			o:    DryRunOptions{Paths: []string{"-"}, Format: "csv", Stdin: strings.NewReader("device,value\nq,1\nr,abc\n")},
			read: 2, good: 1, posts: 1, tierAfter: -1, duration: 1250 * time.Millisecond,
			bad:      []BadRow{{"stdin:3", "value"}},
			warnings: []string{"stdin: header maps only partly onto table Telemetry/Readings: no field fills columns [at]"},
		},
		{
			name: "case-only header noted", retention: "None", limits: "{}",
			o:    DryRunOptions{Paths: []string{"-"}, Format: "csv", Stdin: strings.NewReader("Device,VALUE,at\nq,1,2026-01-01\n")},
			read: 1, good: 1, posts: 1, tierAfter: -1, duration: 1250 * time.Millisecond,
			warnings: []string{"stdin: header fields differ from table Telemetry/Readings's fields only in case and map to them: Device→device, VALUE→value"},
		},
		{name: "header matches no column", retention: "None", limits: "{}", wantErr: "no field of the header [foo, bar] matches a column of table Telemetry/Readings (columns: device, value, at)",
			o: DryRunOptions{Paths: []string{"-"}, Format: "csv", Stdin: strings.NewReader("foo,bar\n1,2\n")}},
		{name: "unknown extension", retention: "None", limits: "{}", o: DryRunOptions{Paths: []string{"testdata/plan_input.txt"}}, wantErr: "-format jsonl|csv"},
		{name: "missing file", retention: "None", limits: "{}", o: DryRunOptions{Paths: []string{"testdata/plan_none.jsonl"}}, wantErr: "no such file"},
		{name: "unknown table", retention: "None", limits: "{}", o: DryRunOptions{Table: "Telemetry/Nope"}, wantErr: "Nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := planConfig(t, tc.retention, tc.limits)
			if tc.o.Table == "" {
				tc.o.Table = "Telemetry/Readings"
			}
			p, err := DryRun(context.Background(), cfg, tc.o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Read != tc.read || p.Good != tc.good || p.Bad != tc.read-tc.good || p.Posts != tc.posts ||
				p.LargeTierAfter != tc.tierAfter || p.Duration.Round(time.Millisecond) != tc.duration.Round(time.Millisecond) {
				t.Errorf("plan read %d good %d bad %d posts %d tier %d duration %v; want %d %d %d %d %d %v",
					p.Read, p.Good, p.Bad, p.Posts, p.LargeTierAfter, p.Duration, tc.read, tc.good, tc.read-tc.good, tc.posts, tc.tierAfter, tc.duration)
			}
			checkBadRows(t, p.BadRows, tc.bad)
			if strings.Join(p.Warnings, "\n") != strings.Join(tc.warnings, "\n") {
				t.Errorf("warnings\n%q\nwant\n%q", p.Warnings, tc.warnings)
			}
		})
	}
}

// checkBadRows compares positions exactly and reasons by a fragment.
func checkBadRows(t *testing.T, got, want []BadRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("bad rows %+v, want %d", got, len(want))
	}
	for i := range want {
		if got[i].Position != want[i].Position || !strings.Contains(strings.ToLower(got[i].Reason), want[i].Reason) {
			t.Errorf("bad row %d = %+v, want %s with a reason about %q", i, got[i], want[i].Position, want[i].Reason)
		}
	}
}

func TestPlanAtServiceLimits(t *testing.T) {
	def := config.ServiceLimits
	small := def
	small.RowsPerPost = 1000
	tests := []struct {
		name      string
		retention string
		limits    config.Limits
		rows      int64
		posts     int64
		duration  time.Duration
		warnings  int
	}{
		// Greedy drain, 250ms a POST, 5 at a time. 1M rows leave at once each rolling hour (100
		// POSTs, which fit 120/minute and the large tier's 120/hour): 10 bursts, the last starting
		// 9 hours (and 9 round trips) in. Over the 5M cap.
		{"10M rows, retention None", "None", def, 10_000_000, 1000, 9*time.Hour + 7*time.Second, 2},
		// one hour's rows: 100 POSTs, 20 rounds of 5
		{"1M rows, retention None", "None", def, 1_000_000, 100, 5 * time.Second, 1},
		// 250 POSTs over ~2 minutes, then 120 POSTs per rolling hour: 750 POSTs take 6 more hours
		{"1M rows of 1,000 per POST", "None", small, 1_000_000, 1000, 7*time.Hour + time.Minute + 4*time.Second, 1},
		{"300k rows, basicFIFO", "basicFIFO", def, 300_000, 30, 2 * time.Second, 1}, // 1.5s
		{"200k rows, basicFIFO", "basicFIFO", def, 200_000, 20, time.Second, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Plan{Retention: tc.retention, Limits: tc.limits, Good: tc.rows}
			p.plan()
			if p.Posts != tc.posts || p.Duration.Round(time.Second) != tc.duration || len(p.Warnings) != tc.warnings {
				t.Errorf("posts %d duration %v warnings %q; want %d %v %d", p.Posts, p.Duration, p.Warnings, tc.posts, tc.duration, tc.warnings)
			}
		})
	}
}

func TestPlanFormat(t *testing.T) {
	cfg := planConfig(t, "None", tinyLimits)
	p, err := DryRun(context.Background(), cfg, DryRunOptions{Table: "Telemetry/Readings",
		Paths: []string{"testdata/plan_good.jsonl", "testdata/plan_mixed.jsonl"}, MaxBadRows: 1})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.Format(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Dry run for Telemetry/Readings (retention None)",
		"records read: 32", "rows good:    28", "rows bad:     4",
		"  testdata/plan_mixed.jsonl:2: ", "  ... and 3 more",
		"plan: 3 POSTs of up to 10 rows; about 1h00m at 60 rows/hour, 2 POSTs/minute (1 POSTs/hour past 20 rows)",
		"binding limit: table ≥ 20 rows: 1 POSTs/hour",
		"warning: after 20 rows of this load",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
	if err := p.Format(failingWriter{}); err == nil {
		t.Error("a failing writer's error was lost")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestDryRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := DryRun(ctx, planConfig(t, "None", "{}"), DryRunOptions{Table: "Telemetry/Readings", Paths: []string{"testdata/plan_good.jsonl"}})
	if err == nil {
		t.Error("cancelled dry run succeeded")
	}
}

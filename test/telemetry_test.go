package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pbi-pusher/pbi-pusher/emulator"
)

// telemetryColumns are the columns of each table of TestTelemetryPerSource (genRows' fields).
const telemetryColumns = `        columns:
          - {name: Seq, type: Int64}
          - {name: Device, type: String}
          - {name: At, type: DateTime}
          - {name: Value, type: Double}
          - {name: Ok, type: Boolean}
`

// TestTelemetryPerSource (issue 14, acceptance 3): a daemon reads a file, HTTP ingest and Kafka,
// each into its own table, every record carrying one field no column reads. Every row counter
// counts each record once per source (read, spooled, unknown fields ignored, delivered), the
// emulator holds each row once, /metrics carries build_info with the Go and process families,
// and every query of the Grafana dashboard names a family this /metrics exports.
func TestTelemetryPerSource(t *testing.T) {
	t.Parallel()
	const n = 40
	emu := ingestEmulator(t, limits{rowsPerPost: 100, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}, emulator.Options{})
	cluster := ingestCluster(t, []string{"telemetry"})
	addrs := cluster.ListenAddrs()
	dir := t.TempDir()
	input := filepath.Join(dir, "in.jsonl")
	listen := ingestFreePort(t)
	tables := ""
	for _, tb := range []string{"FromFile", "FromHTTP", "FromKafka"} {
		tables += "      - name: " + tb + "\n" + telemetryColumns
	}
	cfg := fmt.Sprintf(`powerbi:
  api_url: %s
auth:
  method: static_token
  token: ${E2E_TOKEN}
spool:
  path: %s
batch:
  linger: 50ms
admin:
  listen: 127.0.0.1:0
log:
  format: json
  level: info
shutdown_timeout: 5s
datasets:
  - name: Telemetry
    retention: None
    tables:
%ssources:
  - type: file
    table: Telemetry/FromFile
    paths: [%s]
    follow: true
  - type: http
    table: Telemetry/FromHTTP
    listen: %s
  - type: kafka
    table: Telemetry/FromKafka
    brokers: [%s]
    topic: telemetry
    group: telemetry-test
    start: earliest
`, emu.URL, filepath.Join(dir, "spool.db"), tables, input, listen, strings.Join(addrs, ", "))
	path := opsWriteConfig(t, dir, cfg)
	rows := genRows(0, n)
	withExtra := func(i int) []byte {
		b := ingestRowJSON(rows[i], i)
		return append(b[:len(b)-1], []byte(`,"Extra":"ignored"}`)...)
	}
	var file bytes.Buffer
	var msgs []kafka.Message
	httpRows := make([]json.RawMessage, n)
	for i := range n {
		file.Write(append(withExtra(i), '\n'))
		msgs = append(msgs, kafka.Message{Value: withExtra(i)})
		httpRows[i] = withExtra(i)
	}
	opsAppend(t, input, file.Bytes())
	registerSecret(t, "powerbi token", emu.Token)
	p := opsStart(t, []string{"E2E_TOKEN=" + emu.Token}, "run", "-config", path)
	base := p.adminURL(20 * time.Second)
	ingestAwaitProduced(t, ingestProduce(addrs, nil, "telemetry", msgs, 10, 0), 60*time.Second)
	// HTTP ingest: two requests of half the rows each, and one request the schema refuses whole.
	url := "http://" + listen + "/v1.0/myorg/datasets/Telemetry/tables/FromHTTP/rows"
	for _, part := range [][]json.RawMessage{httpRows[:n/2], httpRows[n/2:], {json.RawMessage(`{"Seq":"not a number"}`)}} {
		body, _ := json.Marshal(map[string]any{"rows": part})
		var resp *http.Response
		opsEventually(t, 20*time.Second, "HTTP ingest listening", func() bool {
			var err error
			resp, err = http.Post(url, "application/json", bytes.NewReader(body))
			return err == nil
		})
		resp.Body.Close()
	}
	opsEventually(t, 90*time.Second, "every row delivered", func() bool {
		m := opsMetrics(t, base)
		for _, tb := range []string{"FromFile", "FromHTTP", "FromKafka"} {
			if v, _ := m.value("rows_delivered_total", "table="+tb); v < n {
				return false
			}
		}
		return true
	})
	m := opsMetrics(t, base)
	for _, tb := range []string{"FromFile", "FromHTTP", "FromKafka"} {
		for _, c := range []string{"rows_read_total", "rows_spooled_total", "unknown_fields_ignored_total", "rows_delivered_total"} {
			if got := m.must(t, c, "dataset=Telemetry", "table="+tb); got != n {
				t.Errorf("%s{table=%q} = %v, want %d (one per record)", c, tb, got, n)
			}
		}
		if got := len(emu.Server.Rows(datasetStats(t, emu).ID, tb)); got != n {
			t.Errorf("emulator holds %d rows of %s, want %d", got, tb, n)
		}
	}
	if v, ok := m.value("http_ingest_rejected_requests_total"); !ok || v < 1 {
		t.Errorf("the refused HTTP request is not counted: %v %v", v, ok)
	}
	bi := m["pbi_pusher_build_info"]
	if bi == nil || len(bi.GetMetric()) != 1 || bi.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Fatalf("build_info: %v", bi)
	}
	labels := map[string]string{}
	for _, l := range bi.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] == "" || !strings.HasPrefix(labels["goversion"], "go1.") {
		t.Errorf("build_info labels %v", labels)
	}
	for _, fam := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if m[fam] == nil {
			t.Errorf("/metrics lacks %s", fam)
		}
	}
	checkDashboard(t, m)
}

// dashboardMetric finds metric names in a PromQL expression.
var dashboardMetric = regexp.MustCompile(`\b((?:pbi_pusher|go|process)_[a-z0-9_]+)\b`)

// checkDashboard fails for every query of deploy/grafana/pbi-pusher.json that names a metric the
// scraped families do not include (histogram series resolve to their family).
func checkDashboard(t *testing.T, fams opsFamilies) {
	t.Helper()
	raw, err := os.ReadFile("../deploy/grafana/pbi-pusher.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard without uid or panels")
	}
	exprs := map[string]string{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs[tg.Expr] = p.Title
		}
	}
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			exprs[v.Definition] = "variable"
		}
	}
	used := map[string]bool{}
	for expr, where := range exprs {
		names := dashboardMetric.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: query %q names no metric", where, expr)
		}
		for _, name := range names {
			fam := name
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if f := strings.TrimSuffix(name, suf); f != name && fams[f] != nil && fams[f].GetType().String() == "HISTOGRAM" {
					fam = f
				}
			}
			if fams[fam] == nil {
				t.Errorf("%s: query %q names %s, which pbi-pusher does not export", where, expr, name)
			}
			used[fam] = true
		}
	}
	var names []string
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("dashboard: %d panels, %d queries over %d families: %s", len(d.Panels), len(exprs), len(names), strings.Join(names, " "))
	for _, must := range []string{"pbi_pusher_spool_rows", "pbi_pusher_rows_delivered_total", "pbi_pusher_dataset_rows_left_this_hour",
		"pbi_pusher_http_throttled_total", "pbi_pusher_sink_up", "pbi_pusher_spool_dead_letters", "pbi_pusher_spool_used_bytes"} {
		if !used[must] {
			t.Errorf("the dashboard does not chart %s", must)
		}
	}
}

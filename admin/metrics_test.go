package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/schema"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

var (
	t0       = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	readings = spool.QueueKey{Dataset: "Telemetry", Table: "Readings"}
)

// fixture wires Metrics to a real spool file, a fake Power BI over real HTTP, a fake token
// source, a fake dispatcher and a Kafka lag func, and serves them on a real admin server.
type fixture struct {
	sp      *spool.Spool
	m       *Metrics
	srv     *Server
	base    string
	disp    *fakeDispatcher
	raw     *fakeTokens
	tokens  TokenSource
	writer  RecordWriter
	queue   batcher.Queue
	client  *http.Client
	pbi     *httptest.Server
	entered chan struct{}
	release chan struct{}
	lagMu   sync.Mutex
	lag     []PartitionLag
	unknown map[spool.QueueKey]int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cfg := parseConfig(t)
	f := &fixture{disp: &fakeDispatcher{}, raw: &fakeTokens{token: "a"},
		entered: make(chan struct{}), release: make(chan struct{})}
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{NoSync: true, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	f.sp = sp
	reg := prometheus.NewRegistry()
	if f.m, err = NewMetrics(reg, cfg); err != nil {
		t.Fatal(err)
	}
	// the HTTP client and tokens are wrapped before the spool and dispatchers exist
	f.tokens = f.m.Tokens(f.raw)
	f.pbi = httptest.NewServer(http.HandlerFunc(f.powerBI))
	t.Cleanup(f.pbi.Close)
	f.client = f.m.HTTPClient(f.pbi.Client())
	f.m.SetSources(Sources{
		Spool: sp, KafkaLag: f.kafkaLag, UnknownFields: f.unknownFields,
		Dispatcher: func(ds string) DispatcherReader {
			if ds == "Telemetry" {
				return f.disp
			}
			return nil
		},
		Destinations: func() []DestinationSnapshot {
			return []DestinationSnapshot{{Name: "eventstream/fabric", Dispatcher: f.disp, Tables: []DestinationTable{
				{Dataset: "Telemetry", Table: "Readings", Delivered: 7, BacklogRows: 3, InFlightRows: 2}}}}
		},
		Now: func() time.Time { return t0.Add(90 * time.Second) },
	})
	table, err := schema.Compile(cfg.Datasets[0].Tables[0])
	if err != nil {
		t.Fatal(err)
	}
	f.writer = f.m.Writer(readings, &ingest.Writer{Queue: readings, Table: table, Spool: sp})
	f.queue = f.m.Queue(sp)
	f.srv, err = NewServer(ServerOptions{Listen: "127.0.0.1:0", Gatherer: reg, Metrics: f.m})
	if err != nil {
		t.Fatal(err)
	}
	f.base = startServer(t, f.srv)
	return f
}

// powerBI answers with the status in ?code=; ?block=1 waits for release.
func (f *fixture) powerBI(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("block") != "" {
		f.entered <- struct{}{}
		<-f.release
	}
	code, _ := strconv.Atoi(r.URL.Query().Get("code"))
	if code == 0 {
		code = http.StatusOK
	}
	w.WriteHeader(code)
}

func (f *fixture) unknownFields(q spool.QueueKey) int64 {
	f.lagMu.Lock()
	defer f.lagMu.Unlock()
	return f.unknown[q]
}

func (f *fixture) kafkaLag() []PartitionLag {
	f.lagMu.Lock()
	defer f.lagMu.Unlock()
	return append([]PartitionLag(nil), f.lag...)
}

func (f *fixture) post(t *testing.T, method, path string) {
	t.Helper()
	req, err := http.NewRequest(method, f.pbi.URL+path, strings.NewReader(`{"rows":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func (f *fixture) write(t *testing.T, recs ...ingest.Record) {
	t.Helper()
	if _, err := f.writer.Write(context.Background(), "in.jsonl", recs, nil); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) take(t *testing.T, n int) *spool.Batch {
	t.Helper()
	b, err := f.queue.Take(readings, n, 1<<20)
	if err != nil || b == nil || len(b.Rows) != n {
		t.Fatalf("take %d: %v, %+v", n, err, b)
	}
	return b
}

func good(device string) ingest.Record {
	return ingest.Record{Fields: map[string]any{"device": device, "value": json.Number("1.5")}, Raw: []byte("{}")}
}

// sample names one expected sample: family, labels (name, value pairs) and value.
type sample struct {
	name   string
	labels []string
	want   float64
}

func tl(extra ...string) []string {
	return append([]string{"dataset", "Telemetry", "table", "Readings"}, extra...)
}

func TestMetricsMoveWithTheirSources(t *testing.T) {
	f := newFixture(t)
	steps := []struct {
		name string
		act  func(t *testing.T)
		want []sample
	}{
		{"at start", func(*testing.T) {}, []sample{
			{"pbi_pusher_rows_read_total", tl(), 0}, {"pbi_pusher_spool_rows", tl(), 0},
			{"pbi_pusher_rows_dead_lettered_total", tl("reason", "rejected"), 0},
			{"pbi_pusher_dataset_rows_left_this_hour", []string{"dataset", "Telemetry"}, 0},
			{"pbi_pusher_token_refreshes_total", nil, 0}, {"pbi_pusher_http_posts_in_flight", nil, 0},
		}},
		{"write good, malformed and schema-bad records", func(t *testing.T) {
			f.write(t, good("a"), good("b"), good("c"),
				ingest.Record{Line: 4, Err: errors.New("invalid JSON"), Raw: []byte("{")},
				ingest.Record{Line: 5, Fields: map[string]any{"device": "d", "value": "NaN?"}, Raw: []byte("{}")})
		}, []sample{
			{"pbi_pusher_rows_read_total", tl(), 5}, {"pbi_pusher_rows_spooled_total", tl(), 3},
			{"pbi_pusher_rows_dead_lettered_total", tl("reason", "decode"), 1},
			{"pbi_pusher_rows_dead_lettered_total", tl("reason", "schema"), 1},
			{"pbi_pusher_spool_rows", tl(), 3}, {"pbi_pusher_spool_oldest_age_seconds", tl(), 90},
			{"pbi_pusher_spool_dead_letters", nil, 2},
		}},
		{"deliver two rows", func(t *testing.T) {
			if err := f.queue.Ack(f.take(t, 2)); err != nil {
				t.Fatal(err)
			}
		}, []sample{{"pbi_pusher_rows_delivered_total", tl(), 2}, {"pbi_pusher_spool_rows", tl(), 1}}},
		{"Power BI rejects the last row", func(t *testing.T) {
			if err := f.queue.Reject(f.take(t, 1), "400 bad value"); err != nil {
				t.Fatal(err)
			}
		}, []sample{
			{"pbi_pusher_rows_dead_lettered_total", tl("reason", "rejected"), 1},
			{"pbi_pusher_spool_rows", tl(), 0}, {"pbi_pusher_spool_oldest_age_seconds", tl(), 0},
			{"pbi_pusher_spool_dead_letters", nil, 3},
		}},
		{"POST rows answered 200, 429, 429, 400; other calls not counted", func(t *testing.T) {
			for _, c := range []string{"200", "429", "429", "400"} {
				f.post(t, http.MethodPost, "/v1.0/myorg/datasets/x/tables/Readings/rows?code="+c)
			}
			f.post(t, http.MethodGet, "/v1.0/myorg/datasets/x/tables/Readings/rows")
			f.post(t, http.MethodPost, "/v1.0/myorg/datasets")
		}, []sample{
			{"pbi_pusher_http_posts_total", []string{"code", "200"}, 1},
			{"pbi_pusher_http_posts_total", []string{"code", "429"}, 2},
			{"pbi_pusher_http_posts_total", []string{"code", "400"}, 1},
			{"pbi_pusher_http_throttled_total", nil, 2},
			{"pbi_pusher_http_post_duration_seconds", nil, 4},
		}},
		{"tokens fetched, cached, invalidated, refreshed, failing", func(t *testing.T) {
			ctx := context.Background()
			_, _ = f.tokens.Token(ctx)
			_, _ = f.tokens.Token(ctx)
			f.tokens.Invalidate()
			f.raw.set("b", nil)
			_, _ = f.tokens.Token(ctx)
			f.raw.set("", errors.New("AADSTS700016"))
			_, _ = f.tokens.Token(ctx)
		}, []sample{
			{"pbi_pusher_token_refreshes_total", nil, 2}, {"pbi_pusher_token_invalidations_total", nil, 1},
			{"pbi_pusher_token_requests_total", []string{"result", "ok"}, 3},
			{"pbi_pusher_token_requests_total", []string{"result", "error"}, 1},
		}},
		{"dispatcher budget and counters", func(*testing.T) {
			f.disp.set(func(u *batcher.Usage, s *batcher.Stats) {
				u.RowsThisHour, u.RowsLeftThisHour, u.PostsThisMinute, u.PostsLeft, u.InFlight = 30000, 970000, 3, 117, 2
				u.LargeTier, u.Multiplier, u.PausedUntil = true, 0.5, t0.Add(100*time.Second)
				s.OK, s.Throttled, s.RetryWaits, s.RetryWaitTotal = 3, 2, 2, 3500*time.Millisecond
			})
		}, []sample{
			{"pbi_pusher_dataset_rows_left_this_hour", []string{"dataset", "Telemetry"}, 970000},
			{"pbi_pusher_dataset_rows_this_hour", []string{"dataset", "Telemetry"}, 30000},
			{"pbi_pusher_dataset_posts_this_minute", []string{"dataset", "Telemetry"}, 3},
			{"pbi_pusher_dataset_posts_left", []string{"dataset", "Telemetry"}, 117},
			{"pbi_pusher_dataset_posts_in_flight", []string{"dataset", "Telemetry"}, 2},
			{"pbi_pusher_dataset_large_tier", []string{"dataset", "Telemetry"}, 1},
			{"pbi_pusher_dataset_rate_multiplier", []string{"dataset", "Telemetry"}, 0.5},
			{"pbi_pusher_dataset_paused_seconds", []string{"dataset", "Telemetry"}, 10},
			{"pbi_pusher_dataset_posts_total", []string{"dataset", "Telemetry", "outcome", "throttled"}, 2},
			{"pbi_pusher_retry_waits_total", []string{"dataset", "Telemetry"}, 2},
			{"pbi_pusher_retry_wait_seconds_total", []string{"dataset", "Telemetry"}, 3.5},
		}},
		{"unknown fields ignored", func(*testing.T) {
			f.lagMu.Lock()
			f.unknown = map[spool.QueueKey]int64{{Dataset: "Telemetry", Table: "Readings"}: 3}
			f.lagMu.Unlock()
		}, []sample{
			{"pbi_pusher_unknown_fields_ignored_total", []string{"dataset", "Telemetry", "table", "Readings"}, 3},
		}},
		{"kafka lag", func(*testing.T) {
			f.lagMu.Lock()
			f.lag = []PartitionLag{{Topic: "readings", Partition: 0, Lag: 42}, {Topic: "readings", Partition: 1, Lag: 7}}
			f.lagMu.Unlock()
		}, []sample{
			{"pbi_pusher_kafka_lag", []string{"topic", "readings", "partition", "0"}, 42},
			{"pbi_pusher_kafka_lag", []string{"topic", "readings", "partition", "1"}, 7},
		}},
	}
	for _, st := range steps {
		st.act(t)
		fams := scrape(t, f.base)
		for _, s := range st.want {
			got, ok := value(fams, s.name, s.labels...)
			if !ok || got != s.want {
				t.Errorf("%s: %s%v = %v (present %v), want %v", st.name, s.name, s.labels, got, ok, s.want)
			}
		}
	}
}

func TestInFlightPostsGauge(t *testing.T) {
	f := newFixture(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.post(t, http.MethodPost, "/datasets/x/tables/Readings/rows?block=1")
	}()
	<-f.entered
	if got, _ := value(scrape(t, f.base), "pbi_pusher_http_posts_in_flight"); got != 1 {
		t.Errorf("in flight during a POST = %v, want 1", got)
	}
	close(f.release)
	<-done
	if got, _ := value(scrape(t, f.base), "pbi_pusher_http_posts_in_flight"); got != 0 {
		t.Errorf("in flight after the POST = %v, want 0", got)
	}
}

// requiredFamilies are the families the Operations issue asks for.
var requiredFamilies = []string{
	"pbi_pusher_rows_read_total", "pbi_pusher_rows_spooled_total", "pbi_pusher_rows_delivered_total",
	"pbi_pusher_rows_dead_lettered_total", "pbi_pusher_http_posts_total", "pbi_pusher_http_throttled_total",
	"pbi_pusher_retry_waits_total", "pbi_pusher_retry_wait_seconds_total", "pbi_pusher_spool_rows",
	"pbi_pusher_spool_bytes", "pbi_pusher_spool_oldest_age_seconds", "pbi_pusher_dataset_rows_left_this_hour",
	"pbi_pusher_dataset_posts_this_minute", "pbi_pusher_http_posts_in_flight", "pbi_pusher_kafka_lag",
	"pbi_pusher_token_refreshes_total", "pbi_pusher_http_post_duration_seconds",
}

func TestEveryRequiredFamilyIsExposed(t *testing.T) {
	f := newFixture(t)
	f.lag = []PartitionLag{{Topic: "t", Partition: 0, Lag: 1}}
	f.post(t, http.MethodPost, "/datasets/x/tables/Readings/rows")
	fams := scrape(t, f.base)
	for _, name := range requiredFamilies {
		if fams[name] == nil {
			t.Errorf("family %s missing from /metrics", name)
		}
	}
	if _, ok := value(fams, "pbi_pusher_dataset_rows_left_this_hour", "dataset", "Audit"); ok {
		t.Error("a dataset without a running dispatcher reports a budget")
	}
}

func TestNewMetricsRegistration(t *testing.T) {
	cfg := parseConfig(t)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg, cfg); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
	m.Unregister()
	if _, err := NewMetrics(reg, cfg); err != nil {
		t.Errorf("register after Unregister: %v", err)
	}
	if _, err := NewMetrics(nil, cfg); err == nil {
		t.Error("nil registerer accepted")
	}
}

func TestDispatchersTurnsNilPointersIntoNil(t *testing.T) {
	d := &fakeDispatcher{}
	get := Dispatchers(func(name string) *fakeDispatcher {
		if name == "on" {
			return d
		}
		return nil
	})
	if get("off") != nil {
		t.Error("nil pointer became a non-nil interface")
	}
	if get("on") == nil {
		t.Error("running dispatcher lost")
	}
}

func TestScrapeBeforeSourcesAreAttached(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, parseConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ServerOptions{Listen: "127.0.0.1:0", Gatherer: reg, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, srv)
	fams := scrape(t, base)
	if got, ok := value(fams, "pbi_pusher_rows_read_total", "dataset", "Audit", "table", "Events"); !ok || got != 0 {
		t.Errorf("configured table not reported before the spool opens: %v %v", got, ok)
	}
	if fams["pbi_pusher_spool_rows"] != nil || fams["pbi_pusher_spool_dead_letters"] != nil {
		t.Error("spool metrics reported without a spool")
	}
}

package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// The Eventstream destination end to end: the built binary sends to kfake configured like an
// Event Hubs Kafka endpoint (TLS, SASL PLAIN with user $ConnectionString and the connection
// string as password), and the test reads back and decodes every record from the broker.

const (
	esTopic = "es_readings"
	esConn  = "Endpoint=sb://e2e-fabric.servicebus.windows.net/;SharedAccessKeyName=key_e2e;" +
		"SharedAccessKey=Ev3ntStr3amK3y-e2e-s3cret=;EntityPath=" + esTopic
	esDest = "eventstream/fabric"
)

var esQueue = spool.QueueKey{Dataset: "Telemetry", Table: "Readings"}

// esBroker is the in-process broker and what a client needs to read it.
type esBroker struct {
	c      *kfake.Cluster
	addr   string
	caFile string
	tls    *tls.Config
}

func newESBroker(t *testing.T, opts ...kfake.Opt) *esBroker {
	t.Helper()
	serverTLS, caFile := ingestSelfSigned(t)
	base := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, esTopic), kfake.TLS(serverTLS),
		kfake.EnableSASL(), kfake.Superuser("PLAIN", "$ConnectionString", esConn)}
	c, err := kfake.NewCluster(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	registerSecret(t, "eventstream connection string", esConn)
	registerSecret(t, "eventstream shared access key", "Ev3ntStr3amK3y-e2e-s3cret=")
	return &esBroker{c: c, addr: c.ListenAddrs()[0], caFile: caFile,
		tls: &tls.Config{RootCAs: x509NewPool(t, pem), MinVersion: tls.VersionTLS12}}
}

func (b *esBroker) dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 5 * time.Second, TLS: b.tls,
		SASLMechanism: plain.Mechanism{Username: "$ConnectionString", Password: esConn}}
}

// total returns how many records the topic holds (sum of the partitions' end offsets).
func (b *esBroker) total(t *testing.T) int64 {
	t.Helper()
	var n int64
	for p := range 3 {
		conn, err := b.dialer().DialLeader(context.Background(), "tcp", b.addr, esTopic, p)
		if err != nil {
			t.Fatal(err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		n += last
	}
	return n
}

// records reads and decodes every record of the topic.
func (b *esBroker) records(t *testing.T) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for p := range 3 {
		conn, err := b.dialer().DialLeader(context.Background(), "tcp", b.addr, esTopic, p)
		if err != nil {
			t.Fatal(err)
		}
		last, err := conn.ReadLastOffset()
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < last; {
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Seek(off, kafka.SeekAbsolute); err != nil {
				t.Fatal(err)
			}
			batch := conn.ReadBatch(1, 32<<20)
			for {
				m, err := batch.ReadMessage()
				if err != nil {
					break
				}
				out = append(out, m)
				off = m.Offset + 1
			}
			if err := batch.Close(); err != nil {
				t.Fatalf("partition %d at %d: %v", p, off, err)
			}
		}
		conn.Close()
	}
	return out
}

// rows decodes the records' values (one JSON object per row, the table's column shape).
func esRows(t *testing.T, msgs []kafka.Message) []map[string]any {
	t.Helper()
	out := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		dec := json.NewDecoder(strings.NewReader(string(m.Value)))
		dec.UseNumber()
		if err := dec.Decode(&out[i]); err != nil {
			t.Fatalf("record %d/%d: %q: %v", m.Partition, m.Offset, m.Value, err)
		}
		if h := esHeader(m, "table"); h != "Readings" {
			t.Fatalf("record %d/%d: table header %q", m.Partition, m.Offset, h)
		}
	}
	return out
}

func esHeader(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// esConfig writes a config whose table Telemetry/Readings goes to dests; emu may be nil (no
// Power BI). extra is appended to the eventstreams entry.
func esConfig(t *testing.T, dir string, emu *emulatortest.Emulator, b *esBroker, dests, extra string) string {
	return esConfigLimits(t, dir, emu, b, dests, extra, limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5})
}

// esConfigLimits is esConfig with the Power BI dataset's limits l.
func esConfigLimits(t *testing.T, dir string, emu *emulatortest.Emulator, b *esBroker, dests, extra string, l limits) string {
	t.Helper()
	var cfg strings.Builder
	if emu != nil {
		fmt.Fprintf(&cfg, "powerbi:\n  api_url: %s\nauth:\n  method: static_token\n  token: ${E2E_TOKEN}\n", emu.URL)
	}
	fmt.Fprintf(&cfg, `spool:
  path: %s
batch:
  linger: 100ms
shutdown_timeout: 2s
log:
  format: json
  level: debug
eventstreams:
  - name: fabric
    connection_string: ${ES_CONNECTION_STRING}
    bootstrap: %s
    tls:
      ca_file: %s
%s`, filepath.Join(dir, "spool.db"), b.addr, b.caFile, extra)
	ds := datasetsYAML(l)
	ds = strings.Replace(ds, "      - name: Readings\n", "      - name: Readings\n        destinations: "+dests+"\n", 1)
	cfg.WriteString(ds)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// esSpool is what the test reads from the spool between two runs.
type esSpool struct {
	delivered map[string]int64
	queued    map[string]int
	line      int64
	dead      int
}

func esInspect(t *testing.T, path, cpKey string, dests ...string) esSpool {
	t.Helper()
	s, err := spool.Open(path, spool.Options{})
	if err != nil {
		t.Fatalf("open spool after kill: %v", err)
	}
	defer s.Close()
	if err := s.SetDestinations(esQueue, dests); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("spool check: %v", err)
	}
	out := esSpool{delivered: map[string]int64{}, queued: map[string]int{}, dead: s.Stats().DeadLetters}
	for _, d := range dests {
		v := s.Destination(d)
		out.delivered[d], out.queued[d] = v.Delivered(esQueue), v.Backlog(esQueue).Rows
	}
	if raw, _ := s.Meta(cpKey); raw != nil {
		var cp struct {
			Line int64 `json:"line"`
		}
		if err := json.Unmarshal(raw, &cp); err != nil {
			t.Fatal(err)
		}
		out.line = cp.Line
	}
	return out
}

// TestEventstreamBackfillSurvivesSIGKILL: a 100,000-row backfill to an Eventstream destination,
// killed with SIGKILL at 5 random moments and restarted, arrives exactly once at the broker
// (records read back and decoded): no row missing, duplicates at most the rows the broker held
// beyond the spool's acks at the kills (sends in flight), each within the in-flight bound.
func TestEventstreamBackfillSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("crash test: 6 runs of the binary")
	}
	const (
		n         = 100_000
		kills     = 5
		perSecond = 10_000 // events/s (a send carries at most a second of events, and 10,000): 10 s a pass, time to kill it
		pending   = 2      // sends in flight per destination
	)
	seed := crashSeed(t)
	t.Logf("seed %d (replay with CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 17))
	b := newESBroker(t)
	dir := t.TempDir()
	want := genRows(0, n)
	input := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, input, want)
	abs, _ := filepath.Abs(input)
	cfg := esConfig(t, dir, nil, b, "[fabric]", fmt.Sprintf("    events_per_second: %d\n    bytes_per_second: 50MB\n", perSecond))
	env := []string{"ES_CONNECTION_STRING=" + esConn}
	args := []string{"backfill", "-config", cfg, "-table", "Telemetry/Readings", input}
	spoolPath := filepath.Join(dir, "spool.db")

	var extraSum int64 // records at the broker beyond the spool's acks, summed over the kills
	prevExtra := int64(0)
	for k := range kills {
		p := crashStart(t, dir, fmt.Sprintf("es%02d", k), env, args...)
		target := int64(float64(n) * (0.1 + 0.18*float64(k) + rng.Float64()*0.08))
		deadline := time.Now().Add(90 * time.Second)
		for b.total(t)-prevExtra < target && !p.exited() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		if !p.kill() {
			if p.err == nil && k > 0 {
				// The run delivered its remaining rows before its kill moment (a fast machine, or a
				// slow poll of the broker): it finished cleanly, and the final check below still
				// proves every row arrived exactly once within the bound of the kills made.
				t.Logf("kill %d: the run had already finished cleanly", k)
				break
			}
			t.Fatalf("kill %d: pbi-pusher had already exited (%v)\nstderr:\n%s", k, p.err, tail(p.readStderr(), 30))
		}
		p.capture(t)
		st := esInspect(t, spoolPath, "file/"+abs, esDest)
		if st.delivered[esDest]+int64(st.queued[esDest]) != st.line || st.dead != 0 {
			t.Fatalf("kill %d: spool ledger: delivered %d + queued %d != checkpoint %d (dead %d)",
				k, st.delivered[esDest], st.queued[esDest], st.line, st.dead)
		}
		extra := b.total(t) - st.delivered[esDest]
		inflight := extra - prevExtra
		if bound := int64(pending * min(perSecond, 10_000)); inflight < 0 || inflight > bound {
			t.Fatalf("kill %d: %d records reached the broker without an ack, bound %d", k, inflight, bound)
		}
		extraSum += inflight
		t.Logf("kill %d at >=%d distinct records: checkpoint %d, acked %d, queued %d, in flight at the broker %d",
			k, target, st.line, st.delivered[esDest], st.queued[esDest], inflight)
		prevExtra = extra
	}
	p := crashStart(t, dir, "es-final", env, args...)
	if code := p.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("final run: exit %d\nstdout:\n%s\nstderr:\n%s", code, p.readStdout(), tail(p.readStderr(), 40))
	}
	out := p.readStdout()
	t.Logf("final run:\n%s", out)
	if !strings.Contains(out, "rows delivered to eventstream/fabric: ") {
		t.Errorf("summary does not report the eventstream's count:\n%s", out)
	}
	msgs := b.records(t)
	missing, dups := crashCount(t, want, esRows(t, msgs))
	t.Logf("broker: %d records for %d rows: %d missing, %d duplicates (bound: %d in flight at the kills)",
		len(msgs), n, missing, dups, extraSum)
	if missing != 0 {
		t.Errorf("%d rows missing at the broker", missing)
	}
	if int64(dups) > extraSum {
		t.Errorf("%d duplicates, more than the %d records in flight at the kills", dups, extraSum)
	}
	// Every record carries the row's source position.
	if pos := esHeader(msgs[0], "position"); !strings.HasPrefix(pos, input+":") {
		t.Errorf("position header %q, want %s:LINE", pos, input)
	}
	final := esInspect(t, spoolPath, "file/"+abs, esDest)
	if final.queued[esDest] != 0 || final.line != n {
		t.Errorf("final spool: %d queued, checkpoint %d", final.queued[esDest], final.line)
	}
}

// TestEventstreamWrongConnectionString: a wrong key fails at start with an error that names the
// endpoint and the SASL failure, and never shows the connection string or its key.
func TestEventstreamWrongConnectionString(t *testing.T) {
	t.Parallel()
	b := newESBroker(t)
	dir := t.TempDir()
	input := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, input, genRows(0, 10))
	cfg := esConfig(t, dir, nil, b, "[fabric]", "")
	wrong := strings.Replace(esConn, "Ev3ntStr3amK3y", "Wr0ngK3yV4lue", 1)
	registerSecret(t, "wrong connection string", wrong)
	registerSecret(t, "wrong key", "Wr0ngK3yV4lue-e2e-s3cret=")
	res := runBinary(t, time.Minute, []string{"ES_CONNECTION_STRING=" + wrong},
		"backfill", "-config", cfg, "-table", "Telemetry/Readings", input)
	t.Logf("exit %d, stderr:\n%s", res.code, tail(res.stderr, 5))
	if res.code != 1 {
		t.Fatalf("exit %d, want 1", res.code)
	}
	for _, want := range []string{b.addr, "SASL PLAIN", "authentication failed"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr does not name %q", want)
		}
	}
	if strings.Contains(res.stderr, "Wr0ngK3yV4lue") || strings.Contains(res.stdout, "Wr0ngK3yV4lue") {
		t.Error("the output shows the connection string's key")
	}
}

// TestEventstreamMessageOverRequestLimit: a row larger than the broker accepts is dead-lettered
// with the broker's answer; the other rows arrive.
func TestEventstreamMessageOverRequestLimit(t *testing.T) {
	t.Parallel()
	b := newESBroker(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "65536"}))
	dir := t.TempDir()
	input := filepath.Join(dir, "rows.jsonl")
	rows := genRows(0, 50)
	writeJSONL(t, input, rows)
	// Row 26: a 4,000-character Device (Power BI's string limit) repeated across the line is not
	// possible, so the big row is made of the allowed maximum in many columns: the table below
	// has 30 String columns of up to 4,000 characters (120 KB > the broker's 64 KiB).
	var big strings.Builder
	big.WriteString(`{"Seq": 999`)
	for i := range 30 {
		fmt.Fprintf(&big, `, "S%d": "%s"`, i, strings.Repeat("x", 4000))
	}
	big.WriteString("}\n")
	f, err := os.OpenFile(input, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(big.String())
	_ = f.Close()
	cfg := esConfig(t, dir, nil, b, "[fabric]", "    max_request_bytes: 48KiB\n")
	var cols strings.Builder
	for i := range 30 {
		fmt.Fprintf(&cols, "          - {name: S%d, type: String}\n", i)
	}
	raw, _ := os.ReadFile(cfg)
	raw = []byte(strings.Replace(string(raw), "          - {name: Ok, type: Boolean}\n",
		"          - {name: Ok, type: Boolean}\n"+cols.String(), 1))
	if err := os.WriteFile(cfg, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"ES_CONNECTION_STRING=" + esConn}
	res := runBinary(t, time.Minute, env, "backfill", "-config", cfg, "-table", "Telemetry/Readings", input)
	if res.code != 3 {
		t.Fatalf("exit %d, want 3 (finished, rows dead-lettered)\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, tail(res.stderr, 20))
	}
	if got := len(b.records(t)); got != 50 {
		t.Errorf("broker holds %d records, want the 50 others", got)
	}
	dl := runBinary(t, time.Minute, env, "spool", "dead-letters", "-json", "-config", cfg)
	var dls []struct{ Destination, Position, Reason string }
	if err := json.Unmarshal([]byte(dl.stdout), &dls); err != nil {
		t.Fatalf("spool dead-letters -json: %v\n%s", err, tail(dl.stderr, 5))
	}
	t.Logf("dead letters: %+v", dls)
	if len(dls) != 1 || dls[0].Destination != esDest || !strings.Contains(dls[0].Reason, "Message Size Too Large") ||
		!strings.HasSuffix(dls[0].Position, ":51") {
		t.Errorf("want one dead letter of %s at line 51 with the broker's MESSAGE_TOO_LARGE, got %+v", esDest, dls)
	}
}

// TestEventstreamDualWriteEmulatorOutage: rows go to Power BI (the emulator) and to the
// Eventstream. The emulator is unreachable for 60 s mid-run: only the Power BI side waits; the
// Eventstream side keeps its configured rate; in the end every row is in both.
func TestEventstreamDualWriteEmulatorOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a 60 s outage")
	}
	const (
		n         = 40_000
		perSecond = 400 // the Eventstream's events/s: 100 s for all rows
		outage    = 60 * time.Second
	)
	b := newESBroker(t)
	var down atomic.Bool
	token := emulatortest.DefaultToken
	srv := emulator.New(emulator.Options{Tokens: []string{token}})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			panic(http.ErrAbortHandler) // the connection drops: the service is gone
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	emu := &emulatortest.Emulator{URL: hs.URL + "/v1.0/myorg", Root: hs.URL, Token: token, Server: srv, HTTP: hs,
		Client: hs.Client()}
	registerSecret(t, "emulator token", emu.Token)
	dir := t.TempDir()
	want := genRows(0, n)
	input := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, input, want)
	// Power BI at 500 rows/POST, 60 POSTs/min: 80 s for every row, so the outage hits it mid-run.
	cfg := esConfigLimits(t, dir, emu, b, "[powerbi, fabric]", fmt.Sprintf("    events_per_second: %d\n", perSecond),
		limits{rowsPerPost: 500, postsPerMinute: 60, rowsPerHour: 1_000_000, pending: 2})
	p := crashStart(t, dir, "dual", []string{"ES_CONNECTION_STRING=" + esConn, "E2E_TOKEN=" + emu.Token},
		"backfill", "-config", cfg, "-table", "Telemetry/Readings", input)
	accepted := func() int64 { return crashAccepted(emu) }
	time.Sleep(10 * time.Second)
	down.Store(true)
	time.Sleep(time.Second) // POSTs already inside the emulator finish
	pbi0, es0, t0 := accepted(), b.total(t), time.Now()
	time.Sleep(outage - time.Second)
	pbi1, es1, dt := accepted(), b.total(t), time.Since(t0)
	down.Store(false)
	rate := float64(es1-es0) / dt.Seconds()
	t.Logf("outage %s: Power BI rows %d → %d; Eventstream records %d → %d (%.0f/s, configured %d/s)",
		dt.Round(time.Second), pbi0, pbi1, es0, es1, rate, perSecond)
	if pbi1 != pbi0 || pbi0 >= n {
		t.Errorf("Power BI side: %d rows before the outage, %d stored while down; want it mid-run and nothing stored", pbi0, pbi1-pbi0)
	}
	if rate < 0.8*perSecond || rate > 1.1*perSecond {
		t.Errorf("Eventstream rate during the Power BI outage %.0f/s, want about %d/s", rate, perSecond)
	}
	if code := p.wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, p.readStdout(), tail(p.readStderr(), 30))
	}
	t.Logf("summary:\n%s", p.readStdout())
	st := datasetStats(t, emu)
	if missing, dups := crashCount(t, want, emu.Server.Rows(st.ID, "Readings")); missing != 0 {
		t.Errorf("Power BI: %d rows missing (%d duplicates)", missing, dups)
	}
	if missing, dups := crashCount(t, want, esRows(t, b.records(t))); missing != 0 || dups != 0 {
		t.Errorf("Eventstream: %d rows missing, %d duplicates", missing, dups)
	}
}

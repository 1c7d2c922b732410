// Package soak runs the agent for minutes against every fault at once and compares every row
// produced with every row stored: the 60 s variant runs with the tests (CI); `go test
// ./test/soak -soak` runs the 10-minute one (docs/benchmarks.md records its result).
package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

var (
	long     = flag.Bool("soak", false, "run the long soak (10 minutes unless -soak.duration)")
	duration = flag.Duration("soak.duration", 0, "soak length (default: 10m with -soak, 60s without)")
)

var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "soak-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "pbi-pusher")
	if out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/pbi-pusher").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	tenant   = "soak-tenant"
	topic    = "soak"
	ingestTk = "soak-ingest-token"
)

// plan is one soak's scale.
type plan struct {
	run, killEvery, tokenLife time.Duration
}

func soakPlan() plan {
	d := *duration
	if d == 0 {
		d = time.Minute
		if *long {
			d = 10 * time.Minute
		}
	}
	p := plan{run: d, killEvery: 2 * time.Minute, tokenLife: 30 * time.Second}
	if d < 10*time.Minute { // scaled down: five kills and tokens dying as often as in 10 minutes
		p.killEvery, p.tokenLife = d/5, max(5*time.Second, d/20)
	}
	return p
}

// TestSoak runs `run` with a Kafka, a followed file and an HTTP source against the emulator
// injecting 5% 500s, 5% 429s, 2% lost answers (stored, then the connection drops) and tokens
// that die early, kills the agent with SIGKILL every killEvery and restarts it, and then checks
// that every row produced is stored, counting duplicates and bounding them by the rows that
// could be in flight: rows re-queued after the kills, rows of lost answers and HTTP requests
// that got no answer.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: a minute or more")
	}
	t.Parallel()
	p := soakPlan()
	t.Logf("soak %v, kill -9 every %v, tokens die after %v", p.run, p.killEvery, p.tokenLife)
	emu := emulatortest.StartWith(t, emulatortest.Options{
		// FIFORows: the soak compares every row, so its basicFIFO table keeps them all (the
		// service keeps the newest 200,000); the rows stay under the hourly 1,000,000.
		Options: emulator.Options{FailRate: 0.05, ThrottleRate: 0.05, DropRate: 0.02, Seed: uint64(time.Now().UnixNano()),
			FIFORows: 10_000_000},
		AAD: true, AADTokenLifetime: time.Hour, AADTokenDiesAfter: p.tokenLife,
	})
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()

	dir := t.TempDir()
	input := filepath.Join(dir, "follow.jsonl")
	if err := os.WriteFile(input, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	listen := freePort(t)
	cfg := writeConfig(t, dir, emu, kc.ListenAddrs(), input, listen)
	env := []string{"SOAK_SECRET=" + emulatortest.AADClientSecret, "SOAK_INGEST=" + ingestTk}

	ctx, stop := context.WithTimeout(context.Background(), p.run)
	defer stop()
	var prod producers
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); prod.kafka(ctx, t, kc.ListenAddrs()) }()
	go func() { defer wg.Done(); prod.file(ctx, t, input) }()
	go func() { defer wg.Done(); prod.http(ctx, "http://"+listen+"/v1.0/myorg/datasets/Soak/tables/Rows/rows") }()

	agent := start(t, cfg, env)
	kills := 0
	tick := time.NewTicker(p.killEvery)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			agent.kill()
			kills++
			agent = start(t, cfg, env)
		case err := <-agent.done:
			t.Fatalf("agent exited on its own: %v\n%s", err, agent.tail())
		}
	}
	tick.Stop()
	wg.Wait()
	want := prod.all()
	t.Logf("produced %d rows (kafka %d, file %d, http %d; %d HTTP rows without an answer); %d kills",
		len(want), prod.nKafka.Load(), prod.nFile.Load(), prod.nHTTP.Load(), prod.ambiguous.Load(), kills)

	// Drain: every row produced must reach the emulator.
	deadline := time.Now().Add(3 * time.Minute)
	var got map[string]int
	var stored int
	for {
		got, stored = storedRows(emu)
		missing := 0
		for id := range want {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d rows produced never reached the emulator\n%s", missing, len(want), agent.tail())
		}
		select {
		case err := <-agent.done:
			t.Fatalf("agent exited while draining: %v\n%s", err, agent.tail())
		case <-time.After(200 * time.Millisecond):
		}
	}
	agent.term(t)

	sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	requeued := sp.Stats().Requeued
	sp.Close()
	ds := emu.Server.DatasetsByName("Soak")[0]
	dups := stored - len(got)
	extra := 0
	for id := range got {
		if !want[id] {
			extra++
		}
	}
	bound := requeued + ds.DroppedRows + prod.ambiguous.Load()
	t.Logf("stored %d rows, %d distinct: 0 missing, %d duplicates (bound %d = %d re-queued after kills + %d of lost answers + %d HTTP rows without an answer); emulator: %d posts, %d 500s, %d 429s, %d dropped answers; %d rows nobody produced",
		stored, len(got), dups, bound, requeued, ds.DroppedRows, prod.ambiguous.Load(), ds.Posts, ds.Failed, ds.Throttled, ds.Dropped, extra)
	if extra > 0 {
		t.Errorf("%d stored rows were never produced (invented rows)", extra)
	}
	if int64(dups) > bound {
		t.Errorf("%d duplicates, more than the %d rows that could be in flight", dups, bound)
	}
	issued := emu.AAD.Stats().Issued
	t.Logf("fake Entra ID issued %d tokens for %d runs of the agent (each dies %v after issue)", issued, kills+1, p.tokenLife)
	if kills == 0 || issued <= kills+1 {
		t.Errorf("faults not exercised: %d kills, %d tokens for %d runs", kills, issued, kills+1)
	}
	// A minute makes about a hundred POSTs: a 2% fault may not occur. Ten minutes make enough.
	if p.run >= 5*time.Minute && (ds.Failed == 0 || ds.Throttled == 0 || ds.Dropped == 0) {
		t.Errorf("faults not exercised: %d 500s, %d 429s, %d dropped answers", ds.Failed, ds.Throttled, ds.Dropped)
	}
}

func writeConfig(t *testing.T, dir string, emu *emulatortest.Emulator, brokers []string, input, listen string) string {
	t.Helper()
	cfg := fmt.Sprintf(`powerbi:
  api_url: %s
  ca_file: %s
auth:
  method: client_secret
  authority_url: %s
  tenant: %s
  client_id: %s
  client_secret: ${SOAK_SECRET}
spool:
  path: %s
batch:
  linger: 200ms
admin:
  listen: "off"
log:
  format: json
  level: info
shutdown_timeout: 5s
datasets:
  - name: Soak
    retention: basicFIFO
    tables:
      - name: Rows
        columns:
          - {name: id, type: String}
          - {name: src, type: String}
          - {name: n, type: Int64}
sources:
  - {type: kafka, table: Soak/Rows, brokers: [%s], topic: %s, group: soak, start: earliest}
  - {type: file, table: Soak/Rows, format: jsonl, follow: true, paths: [%q]}
  - {type: http, table: Soak/Rows, listen: %s, tokens: ["${SOAK_INGEST}"]}
`, emu.URL, emu.AAD.CAFile, emu.AAD.URL, tenant, emulatortest.AADClientID, filepath.Join(dir, "spool.db"),
		strings.Join(brokers, ", "), topic, input, listen)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// storedRows returns how many times each id is stored, and the rows stored.
func storedRows(emu *emulatortest.Emulator) (map[string]int, int) {
	got := map[string]int{}
	n := 0
	for _, d := range emu.Server.DatasetsByName("Soak") {
		for _, r := range emu.Server.Rows(d.ID, "Rows") {
			id, _ := r["id"].(string)
			got[id]++
			n++
		}
	}
	return got, n
}

// producers write rows with unique ids to the three sources and remember the ones accepted.
type producers struct {
	mu                   sync.Mutex
	ids                  []string
	nKafka, nFile, nHTTP atomic.Int64
	ambiguous            atomic.Int64 // HTTP rows sent again after a request got no answer
}

func (p *producers) add(ids ...string) {
	p.mu.Lock()
	p.ids = append(p.ids, ids...)
	p.mu.Unlock()
}

func (p *producers) all() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]bool, len(p.ids))
	for _, id := range p.ids {
		m[id] = true
	}
	return m
}

func rowJSON(src string, n int) (string, []byte) {
	id := fmt.Sprintf("%s-%d", src, n)
	b, _ := json.Marshal(map[string]any{"id": id, "src": src, "n": n})
	return id, b
}

// The producers send about 230 rows/s together (140,000 in 10 minutes): a pace the dataset can
// keep for an hour. The dataset is fed by a Kafka source, so its hourly rows go through the
// partitions' token buckets (batcher/hourly.go): a burst of the hour is not available to it, and
// after a restart a partition's bucket fills from the pace again.

// kafka produces 10 records every 120 ms; a record counts once the broker acknowledged it.
func (p *producers) kafka(ctx context.Context, t *testing.T, brokers []string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Errorf("kafka client: %v", err)
		return
	}
	defer cl.Close()
	for n := 0; ctx.Err() == nil; {
		var recs []*kgo.Record
		var ids []string
		for range 10 {
			id, b := rowJSON("kafka", n)
			n++
			recs = append(recs, &kgo.Record{Value: b})
			ids = append(ids, id)
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Errorf("produce: %v", err)
			return
		}
		p.add(ids...)
		p.nKafka.Add(int64(len(ids)))
		sleep(ctx, 120*time.Millisecond)
	}
}

// file appends 10 lines every 120 ms to the followed file.
func (p *producers) file(ctx context.Context, t *testing.T, path string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Errorf("open %s: %v", path, err)
		return
	}
	defer f.Close()
	for n := 0; ctx.Err() == nil; {
		var buf bytes.Buffer
		var ids []string
		for range 10 {
			id, b := rowJSON("file", n)
			n++
			buf.Write(b)
			buf.WriteByte('\n')
			ids = append(ids, id)
		}
		if _, err := f.Write(buf.Bytes()); err != nil {
			t.Errorf("append: %v", err)
			return
		}
		p.add(ids...)
		p.nFile.Add(int64(len(ids)))
		sleep(ctx, 120*time.Millisecond)
	}
}

// http posts 10 rows every 160 ms and sends the same rows again until they are answered 200; a
// request that was sent but got no answer may have been spooled, so its rows may be duplicated.
func (p *producers) http(ctx context.Context, url string) {
	hc := &http.Client{Timeout: 10 * time.Second}
	for n := 0; ctx.Err() == nil; {
		var rows []json.RawMessage
		var ids []string
		for range 10 {
			id, b := rowJSON("http", n)
			n++
			rows = append(rows, b)
			ids = append(ids, id)
		}
		body, _ := json.Marshal(map[string]any{"rows": rows})
		for {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+ingestTk)
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			} else if !isRefused(err) {
				p.ambiguous.Add(int64(len(ids)))
			}
			time.Sleep(50 * time.Millisecond) // agent restarting or busy: the same rows again
		}
		p.add(ids...)
		p.nHTTP.Add(int64(len(ids)))
		sleep(ctx, 160*time.Millisecond)
	}
}

// isRefused reports whether the request never reached a server (nothing can have been spooled).
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// agent is one run of the binary.
type agent struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func start(t *testing.T, cfg string, env []string) *agent {
	t.Helper()
	a := &agent{cmd: exec.Command(binPath, "run", "-config", cfg), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	a.cmd.Env = append(os.Environ(), env...)
	a.cmd.Stderr = &lockedWriter{b: a.stderr}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	return a
}

type lockedWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 1<<20 {
		w.b.Reset() // keep the tail only
	}
	return w.b.Write(p)
}

func (a *agent) kill() {
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
}

func (a *agent) term(t *testing.T) {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		a.kill()
		t.Errorf("agent did not stop within 30 s of SIGTERM")
	}
}

func (a *agent) tail() string {
	w := a.cmd.Stderr.(*lockedWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(w.b.String()), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

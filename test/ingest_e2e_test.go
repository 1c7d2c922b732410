package e2e

// Acceptance tests of the sources ("Sources and schema"), driving the real binary
// (`pbi-pusher run -config FILE`) against the Power BI emulator over real HTTP and an in-process
// Kafka broker (kfake) over real TCP.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// ---- background process ----------------------------------------------------------------------

// ingestProc is a `pbi-pusher run` started in the background; stdout and stderr go to files.
type ingestProc struct {
	name       string
	cmd        *exec.Cmd
	stdoutPath string
	stderrPath string
	done       chan struct{}
	code       int // exit code, -1 when ended by a signal; valid once done is closed
}

// ingestStart starts `pbi-pusher run -config cfg` and kills it (SIGKILL) at cleanup if it still runs.
func ingestStart(t *testing.T, name, cfg string, env ...string) *ingestProc {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, name+".stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(filepath.Join(dir, name+".stderr"))
	if err != nil {
		t.Fatal(err)
	}
	registerSecret(t, "powerbi token", emulatortest.DefaultToken)
	cmd := exec.Command(binPath, "run", "-config", cfg)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, errf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &ingestProc{name: name, cmd: cmd, stdoutPath: out.Name(), stderrPath: errf.Name(), done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		_ = out.Close()
		_ = errf.Close()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code = -2
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		stdout, _ := os.ReadFile(p.stdoutPath)
		captureOutput(t, stdout, []byte(p.stderr())) // for the secret scan
		if t.Failed() {
			t.Logf("%s stderr (tail):\n%s", name, tail(p.stderr(), 30))
		}
	})
	return p
}

func (p *ingestProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *ingestProc) stderr() string {
	b, _ := os.ReadFile(p.stderrPath)
	return string(b)
}

// wait waits for the process to exit and returns its exit code.
func (p *ingestProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s\nstderr:\n%s", p.name, timeout, tail(p.stderr(), 30))
		return 0
	}
}

// term sends SIGTERM and waits for a clean exit (code 0).
func (p *ingestProc) term(t *testing.T) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s exited early (code %d)\nstderr:\n%s", p.name, p.code, tail(p.stderr(), 30))
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("%s exit code %d after SIGTERM, want 0\nstderr:\n%s", p.name, code, tail(p.stderr(), 30))
	}
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *ingestProc) kill9(t *testing.T) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s exited before the kill (code %d)\nstderr:\n%s", p.name, p.code, tail(p.stderr(), 30))
	}
	_ = p.cmd.Process.Kill()
	p.wait(t, 10*time.Second)
}

// logs returns the JSON log records (log.format json) written so far.
func (p *ingestProc) logs() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.stderr()))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// logsWith returns the log records whose msg is msg.
func (p *ingestProc) logsWith(msg string) []map[string]any {
	var out []map[string]any
	for _, m := range p.logs() {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// awaitLog waits until at least n records with msg were logged and returns the last one.
func (p *ingestProc) awaitLog(t *testing.T, msg string, n int, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var last map[string]any
	ingestEventually(t, timeout, fmt.Sprintf("%s logs %q ×%d", p.name, msg, n), func() bool {
		if p.exited() {
			t.Fatalf("%s exited (code %d) while waiting for %q\nstderr:\n%s", p.name, p.code, msg, tail(p.stderr(), 30))
		}
		c := 0
		for _, m := range p.logsWith(msg) {
			if match == nil || match(m) {
				c++
				last = m
			}
		}
		return c >= n
	})
	return last
}

// adminAddr is the admin server's address, from the log.
func (p *ingestProc) adminAddr(t *testing.T) string {
	t.Helper()
	m := p.awaitLog(t, "admin server listening", 1, 20*time.Second, nil)
	addr, _ := m["addr"].(string)
	return addr
}

// ingestEventually polls cond every 50ms until it holds or timeout passes.
func ingestEventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- config, rows, emulator --------------------------------------------------------------------

// ingestConfig writes the e2e config (writeConfig: dataset Telemetry/Readings, spool in dir) plus
// extra top-level YAML (sources, ...), with info logging and an admin server on a free port.
func ingestConfig(t *testing.T, dir string, emu *emulatortest.Emulator, l limits, extra string) string {
	t.Helper()
	path := writeConfig(t, dir, emu, l)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "level: debug", "level: info", 1) +
		"admin:\n  listen: 127.0.0.1:0\nshutdown_timeout: 10s\n" + extra
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func ingestEmulator(t *testing.T, l limits, o emulator.Options) *emulatortest.Emulator {
	o.RowsPerPost, o.PostsPerMinute, o.RowsPerHour, o.PendingPosts = l.rowsPerPost, l.postsPerMinute, l.rowsPerHour, l.pending
	return emulatortest.Start(t, o)
}

// ingestStored is how many rows the emulator's Telemetry datasets ever accepted (0 before the
// dataset exists).
func ingestStored(emu *emulatortest.Emulator) int64 {
	var n int64
	for _, d := range emu.Server.DatasetsByName("Telemetry") {
		n += d.Rows
	}
	return n
}

func ingestAwaitStored(t *testing.T, emu *emulatortest.Emulator, n int64, timeout time.Duration, procs ...*ingestProc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for ingestStored(emu) < n {
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("%s exited (code %d)\nstderr:\n%s", p.name, p.code, tail(p.stderr(), 30))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %d rows in the emulator: %d there", timeout, n, ingestStored(emu))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ingestAwaitDistinct waits until the emulator holds n distinct Seq values.
func ingestAwaitDistinct(t *testing.T, emu *emulatortest.Emulator, n int, timeout time.Duration, procs ...*ingestProc) {
	t.Helper()
	distinct := func() int {
		rows, _ := ingestRows(t, emu)
		seen := make(map[any]struct{}, len(rows))
		for _, r := range rows {
			seen[fmt.Sprint(r["Seq"])] = struct{}{}
		}
		return len(seen)
	}
	deadline := time.Now().Add(timeout)
	for ingestStored(emu) < int64(n) || distinct() < n {
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("%s exited (code %d)\nstderr:\n%s", p.name, p.code, tail(p.stderr(), 30))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %d distinct rows in the emulator: %d there", timeout, n, distinct())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ingestRowJSON encodes one generated row as the JSON record a producer sends; i alternates the
// DateTime spelling as writeJSONL does.
func ingestRowJSON(r row, i int) []byte {
	var at any = r.At.Format(time.RFC3339Nano)
	if i%2 == 1 {
		at = r.At.In(time.FixedZone("", 2*3600)).Format(time.RFC3339)
	}
	b, _ := json.Marshal(map[string]any{"Seq": r.Seq, "Device": r.Device, "At": at, "Value": r.Value, "Ok": r.Ok})
	return b
}

// ingestDups counts, for rows that were all delivered, the duplicates; it fails t on a missing
// or unexpected row or a changed value (checkDelivered's checks, with duplicates allowed).
func ingestDups(t *testing.T, want []row, got []map[string]any) int {
	t.Helper()
	seen := map[int64]int{}
	for _, g := range got {
		seq, err := toInt64(g["Seq"])
		if err != nil {
			t.Fatalf("row without a valid Seq: %v", g)
		}
		seen[seq]++
	}
	var uniq []map[string]any
	done := map[int64]bool{}
	for _, g := range got {
		seq, _ := toInt64(g["Seq"])
		if !done[seq] {
			done[seq] = true
			uniq = append(uniq, g)
		}
	}
	checkDelivered(t, want, uniq) // every row once, values intact, nothing unexpected
	return len(got) - len(uniq)
}

func ingestRows(t *testing.T, emu *emulatortest.Emulator) ([]map[string]any, emulator.DatasetStats) {
	t.Helper()
	st := datasetStats(t, emu)
	return emu.Server.Rows(st.ID, "Readings"), st
}

func ingestFreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// ---- Kafka -------------------------------------------------------------------------------------

const ingestPartitions = 6

func ingestCluster(t *testing.T, topics []string, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	base := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(ingestPartitions, topics...),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}
	c, err := kfake.NewCluster(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// ingestStream is what a producer sends: messages carrying one row, an array of rows, or a
// malformed value (which must be dead-lettered).
type ingestStream struct {
	msgs []kafka.Message
	rows []row
	bad  map[string]bool // malformed values
}

// ingestMessages builds n messages from rows starting at Seq base: every 25th an array of 3 rows,
// and `malformed` broken values spread over the stream.
func ingestMessages(base, n, malformed int) ingestStream {
	s := ingestStream{bad: map[string]bool{}}
	every := 0
	if malformed > 0 {
		every = n / malformed
	}
	rows := genRows(base, n*3) // more than enough
	next := 0
	for i := range n {
		switch {
		case every > 0 && i%every == every/2 && len(s.bad) < malformed:
			v := fmt.Sprintf(`{"Seq": %d, "Device": "broken #%d"`, base+i, len(s.bad)) // truncated JSON
			s.bad[v] = true
			s.msgs = append(s.msgs, kafka.Message{Value: []byte(v)})
		case i%25 == 24:
			var arr [][]byte
			for range 3 {
				arr = append(arr, ingestRowJSON(rows[next], next))
				s.rows = append(s.rows, rows[next])
				next++
			}
			s.msgs = append(s.msgs, kafka.Message{Value: append(append([]byte("["), bytes.Join(arr, []byte(","))...), ']')})
		default:
			s.msgs = append(s.msgs, kafka.Message{Value: ingestRowJSON(rows[next], next)})
			s.rows = append(s.rows, rows[next])
			next++
		}
	}
	return s
}

// ingestProduce writes msgs to topic in chunks, pausing `pause` between chunks (0 = full
// speed). It returns a channel that receives nil or the error once everything is written.
func ingestProduce(addrs []string, tr *kafka.Transport, topic string, msgs []kafka.Message, chunk int, pause time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		w := &kafka.Writer{
			Addr: kafka.TCP(addrs...), Topic: topic, Balancer: &kafka.RoundRobin{},
			BatchSize: 1000, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll,
		}
		if tr != nil {
			w.Transport = tr
		}
		defer w.Close()
		for lo := 0; lo < len(msgs); lo += chunk {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			err := w.WriteMessages(ctx, msgs[lo:min(lo+chunk, len(msgs))]...)
			cancel()
			if err != nil {
				done <- fmt.Errorf("produce at message %d: %w", lo, err)
				return
			}
			if pause > 0 {
				time.Sleep(pause) // paces the producer (a stream, not a sync point)
			}
		}
		done <- nil
	}()
	return done
}

func ingestAwaitProduced(t *testing.T, done <-chan error, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(timeout):
		t.Fatalf("producer did not finish within %s", timeout)
	}
}

func ingestKafkaSource(addrs []string, topic, group, extra string) string {
	return fmt.Sprintf(`sources:
  - type: kafka
    table: Telemetry/Readings
    brokers: [%s]
    topic: %s
    group: %s
    start: earliest
%s`, strings.Join(addrs, ", "), topic, group, extra)
}

// ingestLagMetric scrapes pbi_pusher_kafka_lag from the admin server: partition → lag.
func ingestLagMetric(t *testing.T, p *ingestProc) map[string]float64 {
	return ingestMetric(t, p, "kafka_lag")
}

// ingestMetric scrapes pbi_pusher_<name> from p's admin server: labels → value.
func ingestMetric(t *testing.T, p *ingestProc, name string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.adminAddr(t) + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`(?m)^pbi_pusher_` + regexp.QuoteMeta(name) + `\{([^}]*)\} (\S+)$`)
	out := map[string]float64{}
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		out[m[1]] = v
	}
	return out
}

// ingestCheckDeadLetters checks the spool's dead letters (the daemon must be stopped): exactly the
// malformed values, each with its topic/partition@offset, and the broker holds that value there.
func ingestCheckDeadLetters(t *testing.T, cfg, env, topic string, addrs []string, bad map[string]bool) {
	t.Helper()
	res := runBinary(t, 30*time.Second, []string{env}, "spool", "dead-letters", "-config", cfg, "-json")
	if res.code != 0 {
		t.Fatalf("spool dead-letters: exit %d\n%s", res.code, res.stderr)
	}
	var dls []struct {
		Position, Reason, Data string
	}
	if err := json.Unmarshal([]byte(res.stdout), &dls); err != nil {
		t.Fatalf("dead letters: %v\n%s", err, res.stdout)
	}
	if len(dls) != len(bad) {
		t.Fatalf("%d dead letters, want the %d malformed records:\n%s", len(dls), len(bad), res.stdout)
	}
	pos := regexp.MustCompile(`^` + regexp.QuoteMeta(topic) + `/(\d+)@(\d+)$`)
	for _, d := range dls {
		m := pos.FindStringSubmatch(d.Position)
		if !bad[d.Data] || m == nil || d.Reason == "" {
			t.Errorf("dead letter %+v: want a malformed value with position %s/P@OFFSET and a reason", d, topic)
			continue
		}
		part, _ := strconv.Atoi(m[1])
		off, _ := strconv.ParseInt(m[2], 10, 64)
		if got := ingestReadAt(t, addrs, topic, part, off); got != d.Data {
			t.Errorf("dead letter at %s holds %q, the broker has %q there", d.Position, d.Data, got)
		}
	}
	t.Logf("dead letters: %d, e.g. %s %q", len(dls), dls[0].Position, dls[0].Reason)
}

func ingestReadAt(t *testing.T, addrs []string, topic string, partition int, offset int64) string {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: addrs, Topic: topic, Partition: partition, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatalf("read %s/%d@%d: %v", topic, partition, offset, err)
	}
	return string(m.Value)
}

// ingestSpooledRows is how many rows a stopped daemon's spool still holds (ready and in flight).
func ingestSpooledRows(t *testing.T, cfg, env string) int {
	t.Helper()
	res := runBinary(t, 30*time.Second, []string{env}, "spool", "stats", "-config", cfg, "-json")
	if res.code != 0 {
		t.Fatalf("spool stats: exit %d\n%s", res.code, res.stderr)
	}
	var st struct {
		Queues   []struct{ Rows int }
		InFlight int `json:"in_flight"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatalf("spool stats: %v\n%s", err, res.stdout)
	}
	n := st.InFlight
	for _, q := range st.Queues {
		n += q.Rows
	}
	return n
}

// ingestShares returns the shares the process logged after each rebalance, and the partitions of
// the last assignment.
func ingestShares(p *ingestProc) ([]float64, []any) {
	var shares []float64
	var last []any
	for _, m := range p.logsWith("kafka partitions assigned") {
		s, _ := m["share"].(float64)
		shares = append(shares, s)
		last, _ = m["partitions"].([]any)
	}
	return shares, last
}

func ingestAwaitShare(t *testing.T, p *ingestProc, share float64, timeout time.Duration) []any {
	t.Helper()
	var parts []any
	ingestEventually(t, timeout, fmt.Sprintf("%s owning share %.2f", p.name, share), func() bool {
		if p.exited() {
			t.Fatalf("%s exited (code %d)\nstderr:\n%s", p.name, p.code, tail(p.stderr(), 30))
		}
		shares, last := ingestShares(p)
		parts = last
		return len(shares) > 0 && shares[len(shares)-1] == share
	})
	return parts
}

func TestKafkaE2E(t *testing.T) {
	t.Parallel()
	topics := []string{"exact", "crash", "split"}
	c := ingestCluster(t, topics)
	addrs := c.ListenAddrs()
	env := func(emu *emulatortest.Emulator) string { return "E2E_TOKEN=" + emu.Token }

	// 40,000 records over 6 partitions, streamed while the daemon runs (within the hour's rows a
	// first generation's per-partition buckets hold, README "Scale-out"): every row arrives
	// exactly once with its values, malformed records are dead-lettered with their
	// topic/partition@offset, the limits hold, the lag metric ends at 0, and the daemon stops
	// cleanly.
	t.Run("ExactlyOnce", func(t *testing.T) {
		const n, malformed = 40_000, 12
		l := limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
		emu := ingestEmulator(t, l, emulator.Options{})
		cfg := ingestConfig(t, t.TempDir(), emu, l, ingestKafkaSource(addrs, "exact", "g-exact", ""))
		s := ingestMessages(0, n, malformed)
		began := time.Now()
		p := ingestStart(t, "exact", cfg, env(emu))
		produced := ingestProduce(addrs, nil, "exact", s.msgs, 5000, 0)
		ingestAwaitProduced(t, produced, 60*time.Second)
		prodTime := time.Since(began)
		ingestAwaitStored(t, emu, int64(len(s.rows)), 80*time.Second, p)
		t.Logf("%d records (%d rows, %d malformed) produced in %v, all delivered after %v",
			n, len(s.rows), malformed, prodTime.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
		var lag map[string]float64
		ingestEventually(t, 10*time.Second, "kafka lag 0 on all 6 partitions", func() bool {
			lag = ingestLagMetric(t, p)
			sum := 0.0
			for _, v := range lag {
				sum += v
			}
			return len(lag) == ingestPartitions && sum == 0
		})
		p.term(t)
		rows, st := ingestRows(t, emu)
		checkDelivered(t, s.rows, rows)
		if len(st.Throttles) != 0 || st.Rejected != 0 || st.PeakPostsPerMinute > int64(l.postsPerMinute) || st.PeakPending > l.pending {
			t.Errorf("limits: throttles %v, rejected %d, peak %d posts/min, peak pending %d",
				st.Throttles, st.Rejected, st.PeakPostsPerMinute, st.PeakPending)
		}
		t.Logf("posts=%d peakPostsPerMinute=%d peakPending=%d lag=%v", st.Posts, st.PeakPostsPerMinute, st.PeakPending, lag)
		ingestCheckDeadLetters(t, cfg, env(emu), "exact", addrs, s.bad)
	})

	// kill -9 of the daemon mid-stream, then a restart on the same spool: nothing is lost.
	// Duplicates can only come from POSTs in flight at the kill (their outcome is unknown), so
	// they are bounded by pending_posts × rows_per_post.
	t.Run("Kill9Restart", func(t *testing.T) {
		// Within what the first generation's hourly buckets hold (2 minutes of 1,000,000 rows/h,
		// README "Scale-out"): the restarted process, which owns its partitions again in the next
		// generation, gets what its predecessor left of them at once (restored from its spool's
		// POSTs), so the rest arrives without waiting for the hour's refill.
		const n = 30_000
		l := limits{rowsPerPost: 2000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 2}
		emu := ingestEmulator(t, l, emulator.Options{})
		cfg := ingestConfig(t, t.TempDir(), emu, l, ingestKafkaSource(addrs, "crash", "g-crash", ""))
		s := ingestMessages(1_000_000, n, 0)
		p1 := ingestStart(t, "crash-1", cfg, env(emu))
		produced := ingestProduce(addrs, nil, "crash", s.msgs, 2000, 50*time.Millisecond)
		ingestAwaitStored(t, emu, int64(len(s.rows))/4, 60*time.Second, p1)
		p1.kill9(t)
		atKill := ingestStored(emu)
		t.Logf("killed with %d of %d rows delivered", atKill, len(s.rows))
		if atKill >= int64(len(s.rows)) {
			t.Fatal("everything was delivered before the kill: not mid-stream")
		}
		p2 := ingestStart(t, "crash-2", cfg, env(emu))
		ingestAwaitProduced(t, produced, 60*time.Second)
		// Count distinct rows: duplicates from the POSTs in flight at the kill would otherwise end
		// the wait before the last rows are delivered.
		ingestAwaitDistinct(t, emu, len(s.rows), 80*time.Second, p2)
		p2.term(t)
		rows, st := ingestRows(t, emu)
		dups := ingestDups(t, s.rows, rows)
		if bound := l.pending * l.rowsPerPost; dups > bound {
			t.Errorf("%d duplicate rows after kill -9, more than the %d rows that can be in flight", dups, bound)
		}
		if len(st.Throttles) != 0 || st.PeakPostsPerMinute > int64(l.postsPerMinute) {
			t.Errorf("limits: throttles %v, peak %d posts/min", st.Throttles, st.PeakPostsPerMinute)
		}
		t.Logf("after restart: %d rows stored for %d sent, %d duplicates; posts=%d", len(rows), len(s.rows), dups, st.Posts)
	})

	// Two instances in one group (separate spools, same dataset): the second joins mid-stream
	// and the partitions split 3/3, and while both run their combined POST rate stays within
	// posts_per_minute; then the first is stopped (SIGTERM) mid-stream and the second takes all
	// 6. The second delivers everything except what the first left in its spool; restarting
	// the first on its spool delivers that. Every row arrives exactly once, without a 429.
	t.Run("TwoInstancesRebalance", func(t *testing.T) {
		const n = 24_000
		// 60 POSTs per minute = one per second. Records arrive all the time (linger 100ms),
		// so every instance posts as often as its share of the limit allows: alone 1/s, two
		// with a share of 0.5 each 1/s together. Without the split they would post 2/s.
		l := limits{rowsPerPost: 10000, postsPerMinute: 60, rowsPerHour: 1_000_000, pending: 5}
		emu := ingestEmulator(t, l, emulator.Options{})
		src := ingestKafkaSource(addrs, "split", "g-split", "")
		cfgA := ingestConfig(t, t.TempDir(), emu, l, src)
		cfgB := ingestConfig(t, t.TempDir(), emu, l, src)
		s := ingestMessages(2_000_000, n, 0)
		a := ingestStart(t, "A", cfgA, env(emu))
		ingestAwaitShare(t, a, 1, 30*time.Second)
		// ~800 records/s for ~30 s.
		produced := ingestProduce(addrs, nil, "split", s.msgs, 160, 200*time.Millisecond)
		ingestAwaitStored(t, emu, int64(len(s.rows))/8, 30*time.Second, a)
		b := ingestStart(t, "B", cfgB, env(emu))
		partsB := ingestAwaitShare(t, b, 0.5, 30*time.Second)
		partsA := ingestAwaitShare(t, a, 0.5, 30*time.Second)
		t.Logf("split: A=%v B=%v at %d rows delivered", partsA, partsB, ingestStored(emu))
		if len(partsA) != 3 || len(partsB) != 3 {
			t.Errorf("partitions not split 3/3: A=%v B=%v", partsA, partsB)
		}
		// The combined POST rate while both run (a measurement window, not a sync point).
		const window = 12 * time.Second
		posts0, t0 := datasetStats(t, emu).Posts, time.Now()
		ingestEventually(t, 30*time.Second, "a 12s window with both instances", func() bool {
			return time.Since(t0) >= window
		})
		posts := datasetStats(t, emu).Posts - posts0
		perMin := float64(posts) / time.Since(t0).Minutes()
		t.Logf("both running: %d posts in %v = %.0f posts/min (limit %d)", posts, time.Since(t0).Round(time.Millisecond), perMin, l.postsPerMinute)
		// Slack: one burst token per instance. Without the split the sum would be ~2x the limit.
		if maxPosts := int64(window.Seconds()*float64(l.postsPerMinute)/60) + 3; posts > maxPosts {
			t.Errorf("two instances posted %d times in %v: more than their shared limit allows (%d)", posts, window, maxPosts)
		}
		// B's partitions, taken over from A, wait a minute before B posts (their previous
		// owner's POSTs still count at the service; README "Scale-out"): meanwhile A alone
		// posts at its half of the limit.
		if posts < int64(window.Seconds()*float64(l.postsPerMinute)/60)/4 {
			t.Errorf("only %d posts in %v: the instances were not busy, the rate check proves nothing", posts, window)
		}
		if ingestStored(emu) >= int64(len(s.rows)) {
			t.Fatal("everything delivered before the first instance stopped: not mid-stream")
		}
		a.term(t)
		// SIGTERM finishes in-flight POSTs only (design.md "Lifecycle"): rows A spooled but
		// had not posted yet stay in A's spool, which B cannot see.
		strandedA := ingestSpooledRows(t, cfgA, env(emu))
		t.Logf("A stopped at %d of %d rows delivered, %d rows left in its spool", ingestStored(emu), len(s.rows), strandedA)
		ingestAwaitShare(t, b, 1, 30*time.Second)
		ingestAwaitProduced(t, produced, 60*time.Second)
		// Taken-over partitions wait a minute (see above), and their hourly buckets start empty
		// (README "Scale-out": the hour's pace, no burst), hence the longer timeouts.
		ingestAwaitStored(t, emu, int64(len(s.rows)-strandedA), 180*time.Second, b)
		b.term(t)
		if got := ingestStored(emu); got != int64(len(s.rows)-strandedA) {
			t.Fatalf("B delivered up to %d rows, want all %d minus the %d left in A's spool", got, len(s.rows), strandedA)
		}
		// Restarting A on its spool delivers the rest: nothing was lost.
		a2 := ingestStart(t, "A-again", cfgA, env(emu))
		ingestAwaitStored(t, emu, int64(len(s.rows)), 180*time.Second, a2)
		a2.term(t)
		rows, st := ingestRows(t, emu)
		checkDelivered(t, s.rows, rows)
		t.Logf("posts=%d peakPostsPerMinute=%d (limit %d) throttles=%v", st.Posts, st.PeakPostsPerMinute, l.postsPerMinute, st.Throttles)
		if len(st.Throttles) != 0 || st.PeakPostsPerMinute > int64(l.postsPerMinute) || st.PeakPending > l.pending {
			t.Errorf("combined rate over the limits: throttles %v, peak %d posts/min (limit %d), peak pending %d",
				st.Throttles, st.PeakPostsPerMinute, l.postsPerMinute, st.PeakPending)
		}
	})
}

// TestKafkaE2ESASLTLS: the daemon consumes from a broker that requires TLS and SASL PLAIN (the
// Event Hubs shape), configured with tls.ca_file and sasl keys; the password comes from the
// environment. The broker refuses plaintext clients, so skipping TLS or SASL would fail.
const ingestKafkaPassword = "Endpoint=sb://e2e.servicebus/;SharedAccessKey=k4fka-s3cret"

func TestKafkaE2ESASLTLS(t *testing.T) {
	const n = 5000
	serverTLS, caFile := ingestSelfSigned(t)
	c := ingestCluster(t, []string{"secure"}, kfake.TLS(serverTLS), kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "$ConnectionString", ingestKafkaPassword))
	registerSecret(t, "kafka sasl password", ingestKafkaPassword)
	addrs := c.ListenAddrs()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509NewPool(t, pem)
	tr := &kafka.Transport{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		SASL: plain.Mechanism{Username: "$ConnectionString", Password: ingestKafkaPassword}}
	s := ingestMessages(3_000_000, n, 0)
	ingestAwaitProduced(t, ingestProduce(addrs, tr, "secure", s.msgs, 1000, 0), 30*time.Second)

	l := limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	emu := ingestEmulator(t, l, emulator.Options{})
	cfg := ingestConfig(t, t.TempDir(), emu, l, ingestKafkaSource(addrs, "secure", "g-secure", fmt.Sprintf(`    tls:
      ca_file: %s
    sasl:
      mechanism: PLAIN
      username: $ConnectionString
      password: ${KAFKA_PASSWORD}
`, caFile)))
	p := ingestStart(t, "secure", cfg, "E2E_TOKEN="+emu.Token, "KAFKA_PASSWORD="+ingestKafkaPassword)
	ingestAwaitStored(t, emu, int64(len(s.rows)), 60*time.Second, p)
	p.term(t)
	rows, _ := ingestRows(t, emu)
	checkDelivered(t, s.rows, rows)
	t.Logf("%d rows delivered over SASL PLAIN + TLS", len(rows))

	// The same daemon with a wrong password consumes nothing and says why.
	emu2 := ingestEmulator(t, l, emulator.Options{})
	cfg2 := ingestConfig(t, t.TempDir(), emu2, l, ingestKafkaSource(addrs, "secure", "g-wrong", fmt.Sprintf(`    tls:
      ca_file: %s
    sasl:
      mechanism: PLAIN
      username: $ConnectionString
      password: wrong
`, caFile)))
	w := ingestStart(t, "wrong-password", cfg2, "E2E_TOKEN="+emu2.Token)
	w.awaitLog(t, "source failed", 1, 30*time.Second, func(m map[string]any) bool {
		e, _ := m["err"].(string)
		return strings.Contains(strings.ToLower(e), "sasl")
	})
	if ingestStored(emu2) != 0 {
		t.Errorf("rows delivered with a wrong password")
	}
	// A source that failed for good must not leave the daemon looking healthy.
	resp, err := http.Get("http://" + w.adminAddr(t) + "/readyz")
	if err != nil {
		t.Fatalf("readyz after the source failed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d after the only source failed, want 503", resp.StatusCode)
	}
	if !w.exited() {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		w.wait(t, 30*time.Second)
	}
}

// ---- HTTP ingest ------------------------------------------------------------------------------

// TestHTTPIngestAcknowledgesOnlySpooledRows: a producer posts in the Power BI request shape; each
// 200 is followed at once by kill -9. While Power BI throttles every POST (nothing delivered),
// the rows can only survive in the spool. After a restart against a healthy service every row
// answered 200 is delivered exactly once, and a request answered 400 left nothing behind.
func TestHTTPIngestAcknowledgesOnlySpooledRows(t *testing.T) {
	const rounds, perRequest = 5, 400
	l := limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	throttled := ingestEmulator(t, l, emulator.Options{ThrottleRate: 1})
	healthy := ingestEmulator(t, l, emulator.Options{})
	dir := t.TempDir()
	src, env, url := ingestHTTPSource(t)

	var acked []row
	all := genRows(4_000_000, rounds*perRequest)
	for i := range rounds {
		cfg := ingestConfig(t, dir, throttled, l, src)
		p := ingestStart(t, fmt.Sprintf("http-%d", i), cfg, env...)
		batch := all[i*perRequest : (i+1)*perRequest]
		if i == 2 {
			// A request with one invalid row is refused whole (400) and spools nothing.
			bad := append([]row(nil), batch[:10]...)
			code := ingestPostRows(t, p, url, bad, 3, nil)
			if code != http.StatusBadRequest {
				t.Fatalf("request with an invalid row: %d, want 400", code)
			}
		}
		// kill -9 the moment the 200 status line arrives: nothing was delivered, so the rows
		// must already be in the spool.
		code := ingestPostRows(t, p, url, batch, -1, func() { _ = p.cmd.Process.Kill() })
		if code != http.StatusOK {
			t.Fatalf("round %d: %d, want 200", i, code)
		}
		p.wait(t, 10*time.Second)
		acked = append(acked, batch...)
		if got := ingestStored(throttled); got != 0 {
			t.Fatalf("the throttling service stored %d rows", got)
		}
	}
	st := datasetStats(t, throttled)
	t.Logf("throttled service: %d 429s, 0 rows stored; %d rows answered 200", st.Throttles[emulator.ReasonInjected], len(acked))

	cfg := ingestConfig(t, dir, healthy, l, src)
	p := ingestStart(t, "http-healthy", cfg, env...)
	ingestAwaitStored(t, healthy, int64(len(acked)), 30*time.Second, p)
	p.term(t)
	rows, hst := ingestRows(t, healthy)
	checkDelivered(t, acked, rows)
	t.Logf("after restart against a healthy service: %d rows delivered exactly once in %d posts", len(rows), hst.Posts)
}

// ingestHTTPSource returns the sources block of an HTTP ingest into Telemetry/Readings on a free
// port, the environment it and the emulator's token need, and the URL producers post to.
func ingestHTTPSource(t *testing.T) (src string, env []string, url string) {
	t.Helper()
	listen := ingestFreePort(t)
	src = fmt.Sprintf("sources:\n  - type: http\n    table: Telemetry/Readings\n    listen: %s\n    tokens: [\"${INGEST_TOKEN}\"]\n", listen)
	registerSecret(t, "http ingest token", "producer-secret")
	env = []string{"E2E_TOKEN=" + emulatortest.DefaultToken, "INGEST_TOKEN=producer-secret"}
	return src, env, "http://" + listen + "/v1.0/myorg/datasets/Telemetry/tables/Readings/rows"
}

// ingestPostRows posts rows in the Power BI shape, retrying while the daemon is not listening
// yet; badAt >= 0 makes that row invalid (a string where Value needs a number). on200 runs as
// soon as a 200 status line arrives, before the body is read.
func ingestPostRows(t *testing.T, p *ingestProc, url string, rows []row, badAt int, on200 func()) int {
	t.Helper()
	objs := make([]json.RawMessage, len(rows))
	for i, r := range rows {
		objs[i] = ingestRowJSON(r, i)
		if i == badAt {
			objs[i] = json.RawMessage(strings.Replace(string(objs[i]), `"Value":`, `"Value":"not a number","Was":`, 1))
		}
	}
	body, _ := json.Marshal(map[string]any{"rows": objs})
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer producer-secret")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			if resp.StatusCode == http.StatusOK && on200 != nil {
				on200()
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && badAt < 0 {
				t.Logf("POST rows: %d %s", resp.StatusCode, msg)
			}
			return resp.StatusCode
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("POST rows: %v (daemon exited: %v)\nstderr:\n%s", err, p.exited(), tail(p.stderr(), 30))
		}
		time.Sleep(50 * time.Millisecond) // not listening yet
	}
}

// ---- file follow ------------------------------------------------------------------------------

// TestFollowE2E: a writer appends JSON lines and rotates the file (rename, twice, once while
// pbi-pusher is stopped, and copytruncate) while the daemon follows `app.log*`; the daemon is
// stopped (SIGTERM) and restarted in between. Every line is delivered exactly once.
func TestFollowE2E(t *testing.T) {
	t.Parallel()
	l := limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	emu := ingestEmulator(t, l, emulator.Options{})
	dir, logs, copies := t.TempDir(), t.TempDir(), t.TempDir()
	src := fmt.Sprintf("sources:\n  - type: file\n    table: Telemetry/Readings\n    format: jsonl\n    follow: true\n    paths: [%q]\n",
		filepath.Join(logs, "app.log*"))
	cfg := ingestConfig(t, dir, emu, l, src)
	env := "E2E_TOKEN=" + emu.Token
	all := genRows(5_000_000, 18_000)
	logPath := filepath.Join(logs, "app.log")

	w := &ingestLogWriter{t: t, path: logPath, rows: all}
	w.open()
	defer w.close()

	var mu sync.Mutex
	p := ingestStart(t, "follow-1", cfg, env)
	cur := func() *ingestProc { mu.Lock(); defer mu.Unlock(); return p }

	stop, stopped, restart, restarted := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		werr <- func() error {
			w.append(3000, 20*time.Millisecond)
			w.renameRotate(filepath.Join(logs, "app.log.1"))
			w.append(3000, 20*time.Millisecond)
			close(stop) // the daemon is stopped here while the writer goes on
			<-stopped
			w.append(2000, 0)
			w.renameRotate(filepath.Join(logs, "app.log.2")) // rotation while pbi-pusher is down
			w.append(2000, 0)
			close(restart)
			<-restarted
			w.append(3000, 20*time.Millisecond)
			// copytruncate loses lines not yet read (documented, as with tail -F): rotate once
			// everything written so far has arrived, and append again only after the daemon saw
			// the truncation.
			if err := ingestWaitUntil(60*time.Second, func() bool { return ingestStored(emu) >= int64(w.n) }); err != nil {
				return fmt.Errorf("before copytruncate: %w", err)
			}
			w.copyTruncate(filepath.Join(copies, "app.log.copy"))
			if err := ingestWaitUntil(20*time.Second, func() bool {
				return len(cur().logsWith("file truncated, reading it from the start")) > 0
			}); err != nil {
				return fmt.Errorf("truncation not noticed: %w", err)
			}
			w.append(5000, 20*time.Millisecond)
			return nil
		}()
	}()

	select {
	case <-stop:
	case err := <-werr:
		t.Fatal(err)
	}
	p.term(t)
	t.Logf("stopped after %d lines written, %d rows delivered", w.count(), ingestStored(emu))
	close(stopped)
	<-restart
	mu.Lock()
	p = ingestStart(t, "follow-2", cfg, env)
	mu.Unlock()
	close(restarted)
	select {
	case err := <-werr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(80 * time.Second):
		t.Fatal("writer did not finish within 80s")
	}
	ingestAwaitStored(t, emu, int64(len(all)), 60*time.Second, cur())
	p.term(t)
	rows, st := ingestRows(t, emu)
	checkDelivered(t, all, rows)
	t.Logf("%d lines written across 2 rename rotations and 1 copytruncate, %d delivered exactly once in %d posts",
		len(all), len(rows), st.Posts)
}

func ingestWaitUntil(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// ingestLogWriter appends generated rows as JSON lines to a log file and rotates it.
type ingestLogWriter struct {
	t    *testing.T
	path string
	rows []row
	mu   sync.Mutex
	n    int // lines written
	f    *os.File
}

func (w *ingestLogWriter) open() {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		w.t.Error(err)
		return
	}
	w.f = f
}

func (w *ingestLogWriter) close() {
	if w.f != nil {
		_ = w.f.Close()
	}
}

func (w *ingestLogWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// append writes n lines in chunks of 50, pausing between chunks.
func (w *ingestLogWriter) append(n int, pause time.Duration) {
	for done := 0; done < n; {
		var buf bytes.Buffer
		w.mu.Lock()
		k := 0
		for ; k < 50 && done+k < n; k++ {
			buf.Write(ingestRowJSON(w.rows[w.n+k], w.n+k))
			buf.WriteByte('\n')
		}
		if _, err := w.f.Write(buf.Bytes()); err != nil {
			w.t.Error(err)
		}
		w.n += k
		w.mu.Unlock()
		done += k
		if pause > 0 {
			time.Sleep(pause) // paces the writer (a stream, not a sync point)
		}
	}
}

// renameRotate renames the file to rotated and continues in a new file at the path.
func (w *ingestLogWriter) renameRotate(rotated string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := os.Rename(w.path, rotated); err != nil {
		w.t.Error(err)
	}
	_ = w.f.Close()
	w.open()
}

// copyTruncate copies the file to dst (outside the followed glob) and truncates it in place.
func (w *ingestLogWriter) copyTruncate(dst string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, err := os.ReadFile(w.path)
	if err == nil {
		err = os.WriteFile(dst, b, 0o600)
	}
	if err == nil {
		err = w.f.Truncate(0)
	}
	if err != nil {
		w.t.Error(err)
	}
}

// ---- TLS ---------------------------------------------------------------------------------------

// ingestSelfSigned returns a server TLS config for 127.0.0.1 and the path of its CA PEM file.
func ingestSelfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	cert, err := aad.WriteSelfSigned(caFile, filepath.Join(dir, "key.pem"), []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, caFile
}

func x509NewPool(t *testing.T, pemBytes []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no PEM certificates")
	}
	return pool
}

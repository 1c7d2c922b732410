package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/schema"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchTable is the bench table as the config declares it.
func benchTable() config.Table {
	t := config.Table{Name: tableName}
	for _, c := range columns {
		t.Columns = append(t.Columns, config.Column{Name: c.name, Type: c.typ})
	}
	return t
}

// ingestResult is the ingest figure and its two peers, measured on the same file.
type ingestResult struct {
	rows                      int
	bytes                     int64
	wall, cpu                 time.Duration // pbi-pusher: file -> spool, fsync on
	bareWall                  time.Duration // encoding/json decode of every line into a map
	diskWall                  time.Duration // write + fdatasync of the same bytes, in the spool's commit sizes
	rowsPerWrite, commitBytes int
}

// measureIngest reads a JSON lines file of rows 200-byte rows into a fresh spool the way
// backfill does (decoder, schema, one fsynced Append per 1,000 records) and measures the two
// physical peers on the same bytes.
func measureIngest(ctx context.Context, dir string, rows int) (ingestResult, error) {
	r := ingestResult{rows: rows, rowsPerWrite: 1000}
	path := filepath.Join(dir, "ingest.jsonl")
	size, err := writeRows(path, 0, rows)
	if err != nil {
		return r, err
	}
	r.bytes = size
	r.commitBytes = int(size / int64(rows) * int64(r.rowsPerWrite))
	data, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	// Bare decode. Each timed part starts on a collected heap, so none pays for the garbage of
	// the part before it (the bare decode leaves one map per row).
	runtime.GC()
	start := time.Now()
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return r, fmt.Errorf("bare decode: %w", err)
		}
	}
	r.bareWall = time.Since(start)
	// Disk: the same bytes, written and fdatasynced in commit-sized pieces.
	if r.diskWall, err = diskWrite(filepath.Join(dir, "disk.bin"), data, r.commitBytes); err != nil {
		return r, err
	}
	data = nil
	// pbi-pusher.
	sp, err := spool.Open(filepath.Join(dir, "ingest.db"), spool.Options{})
	if err != nil {
		return r, err
	}
	defer sp.Close()
	tbl, err := schema.Compile(benchTable())
	if err != nil {
		return r, err
	}
	w := &ingest.Writer{Queue: spool.QueueKey{Dataset: "Ingest", Table: tableName}, Table: tbl, Spool: sp}
	f, err := os.Open(path)
	if err != nil {
		return r, err
	}
	defer f.Close()
	runtime.GC()
	cpu0, start := cpuTime(), time.Now()
	dec, err := ingest.NewDecoder("jsonl", f, ingest.DecoderOptions{Deferred: true})
	if err != nil {
		return r, err
	}
	batch := make([]ingest.Record, 0, r.rowsPerWrite)
	spooled := 0
	flush := func() error {
		res, err := w.Write(ctx, path, batch, nil)
		spooled += res.Rows
		batch = batch[:0]
		return err
	}
	for {
		rec, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return r, err
		}
		if batch = append(batch, rec); len(batch) == r.rowsPerWrite {
			if err := flush(); err != nil {
				return r, err
			}
		}
	}
	if err := flush(); err != nil {
		return r, err
	}
	r.wall, r.cpu = time.Since(start), cpuTime()-cpu0
	if spooled != rows {
		return r, fmt.Errorf("ingest spooled %d of %d rows", spooled, rows)
	}
	return r, nil
}

// diskWrite writes data to path in pieces of chunk bytes, each followed by fdatasync.
func diskWrite(path string, data []byte, chunk int) (time.Duration, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	defer f.Close()
	start := time.Now()
	for len(data) > 0 {
		n := min(chunk, len(data))
		if _, err := f.Write(data[:n]); err != nil {
			return 0, err
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return 0, err
		}
		data = data[n:]
	}
	return time.Since(start), nil
}

// child is a pbi-pusher process started by the bench.
type child struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error
}

func startChild(exe string, args ...string) (*child, error) {
	c := &child{cmd: exec.Command(exe, args...), done: make(chan error, 1)}
	c.cmd.Stderr = &c.stderr
	c.cmd.Stdout = io.Discard
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.done <- c.cmd.Wait() }()
	return c, nil
}

// wait waits for the child to exit within d (then kills it).
func (c *child) wait(d time.Duration) error {
	select {
	case err := <-c.done:
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(c.cmd.Args, " "), err, tailLines(c.stderr.String(), 10))
		}
		return nil
	case <-time.After(d):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s: still running after %v", strings.Join(c.cmd.Args, " "), d)
	}
}

func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// backfillResult is a 300k-row backfill by pbi-pusher and by the typical script.
type backfillResult struct {
	rows                     int
	wall                     time.Duration
	throttles                int64
	script                   time.Duration // 0 = not run
	scriptThrottles          int64
	scriptNote               string
	redpanda                 time.Duration
	redpandaThrottles        int64
	redpandaNote             string
	dupPusher, dupScript     int // duplicates after kill -9 halfway and a rerun
	missPusher, missScript   int
	inflightAtKill           int
	pushPeakPostsPerMinute   int64
	postRateThrottles        int64
	postRateRows, postRatePo int
}

// measureBackfill backfills rows rows into an empty table at Power BI's default limits, with
// pbi-pusher (the binary) and with the peers, each into its own dataset of one emulator.
func measureBackfill(dir, exe string, rows int, o Options, r *backfillResult) error {
	r.rows = rows
	input := filepath.Join(dir, "backfill.jsonl")
	if _, err := writeRows(input, 0, rows); err != nil {
		return err
	}
	e, err := startEmu(emulator.Options{})
	if err != nil {
		return err
	}
	defer e.close()
	cfg, err := writeConfig(dir, e.base, []string{"Pusher"}, "", "")
	if err != nil {
		return err
	}
	start := time.Now()
	c, err := startChild(exe, "backfill", "-config", cfg, "-table", "Pusher/"+tableName, input)
	if err != nil {
		return err
	}
	if err := c.wait(10 * time.Minute); err != nil {
		return err
	}
	r.wall = time.Since(start)
	r.throttles = e.dataset("Pusher").Throttled
	if n := e.stored("Pusher"); n != int64(rows) {
		return fmt.Errorf("backfill stored %d rows, want %d", n, rows)
	}
	if o.Python != "" {
		url, err := e.createDataset("Script")
		if err != nil {
			return err
		}
		d, err := runScript(o, url, input)
		if err == nil {
			err = e.storedAll("Script", o.BackfillRows)
		}
		if err != nil {
			r.scriptNote = err.Error()
		} else {
			r.script, r.scriptThrottles = d, e.dataset("Script").Throttled
		}
	} else {
		r.scriptNote = "python3 not found"
	}
	if o.Redpanda {
		url, err := e.createDataset("Redpanda")
		if err == nil {
			r.redpanda, err = runRedpanda(dir, o, url, input)
		}
		if err == nil {
			err = e.storedAll("Redpanda", o.BackfillRows)
		}
		if err != nil {
			r.redpandaNote = err.Error()
		} else {
			r.redpandaThrottles = e.dataset("Redpanda").Throttled
		}
	}
	return nil
}

func runScript(o Options, url, input string) (time.Duration, error) {
	start := time.Now()
	cmd := exec.Command(o.Python, filepath.Join(o.Peers, "push.py"), url, token, input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("push.py: %w: %s", err, tailLines(string(out), 5))
	}
	return time.Since(start), nil
}

// runRedpanda builds Redpanda Connect (benthos core) from the module proxy and runs the peer
// config until every row is stored.
func runRedpanda(dir string, o Options, url, input string) (time.Duration, error) {
	bin, err := buildRedpanda(dir)
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(bin, "-c", filepath.Join(o.Peers, "redpanda-connect.yaml"))
	cmd.Env = append(os.Environ(), "ROWS_URL="+url, "TOKEN="+token, "INPUT="+input)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("benthos: %w: %s", err, tailLines(string(out), 5))
	}
	return time.Since(start), nil
}

// redpandaModule is the Redpanda Connect core the peer is built from: a pinned version, since the
// module proxy may refuse version queries (latest) for it while serving the version itself.
const redpandaModule = "github.com/redpanda-data/benthos/v4"
const redpandaVersion = "v4.60.0"

// buildRedpanda builds the benthos command of redpandaModule in a throwaway module under dir
// (go install pkg@version would ask the proxy for the module's version list, which it may refuse)
// and returns the binary's path.
func buildRedpanda(dir string) (string, error) {
	mod := filepath.Join(dir, "benthos-build")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		return "", fmt.Errorf("build benthos: %w", err)
	}
	bin := filepath.Join(dir, "benthos")
	pkg := redpandaModule + "/cmd/benthos"
	for _, args := range [][]string{
		{"mod", "init", "benthospeer"},
		{"get", pkg + "@" + redpandaVersion},
		{"build", "-o", bin, pkg},
	} {
		c := exec.Command("go", args...)
		c.Dir = mod
		c.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := c.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build benthos (go %s): %w: %s", args[0], err, tailLines(string(out), 5))
		}
	}
	return bin, nil
}

// backfillSetup writes rows rows to dir/input.jsonl, starts an emulator at the default limits
// and writes a config for dataset Pusher (limits: extra YAML flow fields); it returns the
// emulator and the backfill command's arguments (the input path last).
func backfillSetup(dir string, rows int, limits string) (*emu, []string, error) {
	input := filepath.Join(dir, "input.jsonl")
	if _, err := writeRows(input, 0, rows); err != nil {
		return nil, nil, err
	}
	e, err := startEmu(emulator.Options{})
	if err != nil {
		return nil, nil, err
	}
	cfg, err := writeConfig(dir, e.base, []string{"Pusher"}, limits, "")
	if err != nil {
		e.close()
		return nil, nil, err
	}
	return e, []string{"backfill", "-config", cfg, "-table", "Pusher/" + tableName, input}, nil
}

// measureKill backfills rows rows, kills the process with SIGKILL once half the rows are stored,
// reruns the same command and counts duplicates and missing rows; the same for the script.
func measureKill(dir, exe string, rows int, o Options, r *backfillResult) error {
	e, args, err := backfillSetup(dir, rows, "")
	if err != nil {
		return err
	}
	defer e.close()
	input := args[len(args)-1]
	c, err := startChild(exe, args...)
	if err != nil {
		return err
	}
	if err := waitFor(10*time.Minute, func() bool { return e.stored("Pusher") >= int64(rows/2) }); err != nil {
		c.kill()
		return fmt.Errorf("pbi-pusher never stored half the rows: %w", err)
	}
	c.kill()
	if c, err = startChild(exe, args...); err != nil {
		return err
	}
	if err := c.wait(10 * time.Minute); err != nil {
		return err
	}
	distinct, stored := e.distinct("Pusher")
	r.dupPusher, r.missPusher = stored-distinct, rows-distinct
	if o.Python == "" {
		return nil
	}
	url, err := e.createDataset("Script")
	if err != nil {
		return err
	}
	cmd := exec.Command(o.Python, filepath.Join(o.Peers, "push.py"), url, token, input)
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := waitFor(10*time.Minute, func() bool { return e.stored("Script") >= int64(rows/2) }); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("script never stored half the rows: %w", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if _, err := runScript(o, url, input); err != nil {
		return err
	}
	distinct, stored = e.distinct("Script")
	r.dupScript, r.missScript = stored-distinct, rows-distinct
	return nil
}

// measurePostRate backfills rows rows in 1,000-row POSTs (more POSTs than a minute allows) and
// reads the busiest rolling minute and the 429s from the emulator.
func measurePostRate(dir, exe string, rows int, r *backfillResult) error {
	e, args, err := backfillSetup(dir, rows, "rows_per_post: 1000")
	if err != nil {
		return err
	}
	defer e.close()
	c, err := startChild(exe, args...)
	if err != nil {
		return err
	}
	if err := c.wait(10 * time.Minute); err != nil {
		return err
	}
	d := e.dataset("Pusher")
	r.pushPeakPostsPerMinute, r.postRateThrottles, r.postRateRows, r.postRatePo = d.PeakPostsPerMinute, d.Throttled, rows, int(d.Posts)
	return nil
}

func waitFor(d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", d)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// fill appends perDataset rows to the spool at path for each dataset (no fsync: setup only).
func fill(path string, datasets []string, perDataset int) error {
	sp, err := spool.Open(path, spool.Options{NoSync: true})
	if err != nil {
		return err
	}
	for _, ds := range datasets {
		for i := 0; i < perDataset; i += 10_000 {
			w := spool.Write{Queue: spool.QueueKey{Dataset: ds, Table: tableName}}
			for j := i; j < min(perDataset, i+10_000); j++ {
				w.Rows = append(w.Rows, row(j))
			}
			if err := sp.Append(context.Background(), w); err != nil {
				sp.Close()
				return err
			}
		}
	}
	return sp.Close()
}

// runSetup starts an emulator at the default limits and writes a `run` config for datasets
// whose spool is dir/spool.db (filled by the caller); its one source is an empty file (run
// needs a source: the rows to deliver are already spooled).
func runSetup(dir string, datasets []string) (*emu, string, error) {
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return nil, "", err
	}
	e, err := startEmu(emulator.Options{})
	if err != nil {
		return nil, "", err
	}
	src := fmt.Sprintf("  - {type: file, paths: [%s], table: %s/%s, format: jsonl}\n", empty, datasets[0], tableName)
	cfg, err := writeConfig(dir, e.base, datasets, "", src)
	if err != nil {
		e.close()
		return nil, "", err
	}
	return e, cfg, nil
}

// memResult is the 50-dataset drain.
type memResult struct {
	datasets, perDataset int
	peakAnon             int64 // bytes
	wall                 time.Duration
	throttles            int64
}

var rssAnonRE = regexp.MustCompile(`(?m)^RssAnon:\s+(\d+) kB`)

func rssAnon(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	m := rssAnonRE.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n << 10
}

// measureMemory fills a spool with perDataset rows for each of n datasets and runs `run` on it:
// every dataset drains at once (greedy, 5 POSTs in flight each). It samples RssAnon every 10 ms.
func measureMemory(dir, exe string, n, perDataset int, r *memResult) error {
	r.datasets, r.perDataset = n, perDataset
	mdir := filepath.Join(dir, "mem")
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		return err
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("DS%02d", i)
	}
	if err := fill(filepath.Join(mdir, "spool.db"), names, perDataset); err != nil {
		return err
	}
	e, cfg, err := runSetup(mdir, names)
	if err != nil {
		return err
	}
	defer e.close()
	start := time.Now()
	c, err := startChild(exe, "run", "-config", cfg)
	if err != nil {
		return err
	}
	total := int64(n * perDataset)
	all := func() bool {
		var s int64
		for _, d := range e.srv.Stats().Datasets {
			s += d.Rows
		}
		return s >= total
	}
	deadline := time.Now().Add(15 * time.Minute)
	for !all() {
		r.peakAnon = max(r.peakAnon, rssAnon(c.cmd.Process.Pid))
		if time.Now().After(deadline) {
			c.kill()
			return fmt.Errorf("%d datasets not drained within 15 minutes\n%s", n, tailLines(c.stderr.String(), 10))
		}
		select {
		case err := <-c.done:
			return fmt.Errorf("run exited early: %v\n%s", err, tailLines(c.stderr.String(), 10))
		case <-time.After(10 * time.Millisecond):
		}
	}
	r.wall = time.Since(start)
	r.peakAnon = max(r.peakAnon, rssAnon(c.cmd.Process.Pid))
	r.throttles = e.srv.Stats().Throttled
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	err = c.wait(time.Minute)
	_ = os.WriteFile(filepath.Join(mdir, "run.stderr"), c.stderr.Bytes(), 0o644) // for a look after -dir
	return err
}

// restartResult is the time from start to the first POST with a cold spool, after a clean stop
// and after kill -9.
type restartResult struct {
	bytes      int64
	firstPost  time.Duration
	spoolStats time.Duration
	// after kill -9: no current clean-shutdown marker (the full check runs in the background)
	killFirstPost  time.Duration
	killSpoolStats time.Duration
}

// measureRestart fills a spool of about size bytes, drops it from the page cache and measures
// the time from starting `run` to the first POST reaching the emulator, and `spool stats`; then
// kills that run with SIGKILL (it has written since its start: the marker is stale) and measures
// both again on the uncleanly stopped file. A first run on the empty spool creates the dataset
// before (a restart finds it; creating it is not part of a restart's cost).
func measureRestart(dir, exe string, size int64, r *restartResult) error {
	rdir := filepath.Join(dir, "restart")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(rdir, "spool.db")
	e, cfg, err := runSetup(rdir, []string{"Restart"})
	if err != nil {
		return err
	}
	defer e.close()
	if err := firstStart(e, exe, cfg); err != nil {
		return err
	}
	rows := int(size / 230) // row bytes plus key, timestamp and page overhead
	if err := fill(path, []string{"Restart"}, rows); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		r.bytes = fi.Size()
	}
	if err := dropCache(path); err != nil {
		return err
	}
	start := time.Now()
	c, err := startChild(exe, "spool", "stats", "-config", cfg)
	if err != nil {
		return err
	}
	if err := c.wait(5 * time.Minute); err != nil {
		return err
	}
	r.spoolStats = time.Since(start)
	if err := dropCache(path); err != nil {
		return err
	}
	if r.firstPost, c, err = timeFirstPost(e, exe, cfg); err != nil {
		return err
	}
	_ = c.cmd.Process.Kill() // SIGKILL after its first POST: an unclean stop
	<-c.done
	// A POST the killed run had sent may still land: wait until the count stands still, so the
	// next run's first POST is its own.
	for last := int64(-1); e.dataset("Restart").Posts != last; time.Sleep(500 * time.Millisecond) {
		last = e.dataset("Restart").Posts
	}
	if err := dropCache(path); err != nil {
		return err
	}
	start = time.Now()
	if c, err = startChild(exe, "spool", "stats", "-config", cfg); err != nil {
		return err
	}
	if err := c.wait(5 * time.Minute); err != nil {
		return err
	}
	r.killSpoolStats = time.Since(start)
	if err := dropCache(path); err != nil {
		return err
	}
	if r.killFirstPost, c, err = timeFirstPost(e, exe, cfg); err != nil {
		return err
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	return c.wait(time.Minute)
}

// firstStart runs `run` on the empty spool until the dataset exists and the agent has had time
// to get it ready, then stops it (SIGTERM).
func firstStart(e *emu, exe, cfg string) error {
	c, err := startChild(exe, "run", "-config", cfg)
	if err != nil {
		return err
	}
	err = waitFor(time.Minute, func() bool { return len(e.srv.DatasetsByName("Restart")) > 0 })
	time.Sleep(3 * time.Second)
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if werr := c.wait(time.Minute); err == nil {
		err = werr
	}
	return err
}

// timeFirstPost starts `run` and returns the time until the emulator receives a POST from it,
// and the running child.
func timeFirstPost(e *emu, exe, cfg string) (time.Duration, *child, error) {
	before := e.dataset("Restart").Posts
	start := time.Now()
	c, err := startChild(exe, "run", "-config", cfg)
	if err != nil {
		return 0, nil, err
	}
	err = waitFor(5*time.Minute, func() bool { return e.dataset("Restart").Posts > before })
	took := time.Since(start)
	if err != nil {
		_ = c.cmd.Process.Kill()
		<-c.done
		return took, nil, fmt.Errorf("%w\n%s", err, tailLines(c.stderr.String(), 10))
	}
	return took, c, nil
}

// dropCache evicts path from the page cache (clean pages; no root needed).
func dropCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return err
	}
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// pythonPath returns the python3 on PATH, or "".
func pythonPath() string {
	p, err := exec.LookPath("python3")
	if err != nil {
		return ""
	}
	return p
}

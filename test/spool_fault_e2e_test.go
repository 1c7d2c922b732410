package e2e

// Acceptance tests of the spool under real faults (issue "Never crash-loop, never go silent"):
// a disk that fills up (a small tmpfs) and spool files that are truncated or damaged, against the
// built binary.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"

	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/spool/spooltest"
)

// spoolFaultGate is a real HTTP proxy in front of the emulator that answers every POST of rows
// 503 while down (the service failing; a retryable error that does not lower the rate as 429s
// would), everything else passing.
func spoolFaultGate(t *testing.T, target string) (*httptest.Server, *atomic.Bool) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/rows") {
			http.Error(w, `{"error":{"code":"ServiceUnavailable"}}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &down
}

// spoolFaultPost posts rows (Power BI shape) once and returns the status and Retry-After.
func spoolFaultPost(t *testing.T, url string, rows []row) (int, string) {
	t.Helper()
	objs := make([]json.RawMessage, len(rows))
	for i, r := range rows {
		objs[i] = ingestRowJSON(r, i)
	}
	body, _ := json.Marshal(map[string]any{"rows": objs})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer producer-secret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestDiskFullE2E: with the spool on a 16 MiB tmpfs and the service refusing rows, HTTP ingest
// is accepted until the disk is full, then answered 503 + Retry-After, and the process stays up;
// once the service answers, delivery goes on (Take, Ack and the POST log commit in the reserve),
// ingest resumes by itself, and every row that got a 200 is delivered.
func TestDiskFullE2E(t *testing.T) {
	t.Parallel()
	dir := spooltest.MountTmpfs(t, "16m")
	l := limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	emu := ingestEmulator(t, l, emulator.Options{})
	gate, down := spoolFaultGate(t, emu.URL)
	down.Store(true)
	src, env, url := ingestHTTPSource(t)
	cfg := ingestConfig(t, t.TempDir(), emu, l, src)
	b, err := os.ReadFile(cfg)
	spoolFaultMust(t, err)
	text := strings.Replace(string(b), emu.URL, gate.URL, 1)
	text = strings.Replace(text, filepath.Join(filepath.Dir(cfg), "spool.db"), filepath.Join(dir, "spool.db"), 1)
	text = strings.Replace(text, "spool:\n", "spool:\n  reserve_bytes: 4MiB\n", 1)
	spoolFaultMust(t, os.WriteFile(cfg, []byte(text), 0o600))
	p := ingestStart(t, "diskfull", cfg, env...)

	const per = 1000
	all := genRows(7_000_000, 400_000)
	var acked []row
	next := 0
	full := false
	for deadline := time.Now().Add(90 * time.Second); !full; {
		code, retry := spoolFaultPost(t, url, all[next:next+per])
		switch {
		case code == http.StatusOK:
			acked = append(acked, all[next:next+per]...)
			next += per
		case code == http.StatusServiceUnavailable:
			if retry == "" {
				t.Fatal("503 without Retry-After")
			}
			full = true
		case code == 0 && !p.exited():
			time.Sleep(50 * time.Millisecond) // not listening yet
		default:
			t.Fatalf("POST rows: %d (%s) after %d rows\nstderr:\n%s", code, retry, len(acked), tail(p.stderr(), 30))
		}
		if time.Now().After(deadline) || next+per > len(all) {
			t.Fatalf("the disk never filled: %d rows accepted", len(acked))
		}
	}
	t.Logf("disk full after %d rows answered 200", len(acked))
	time.Sleep(2 * time.Second) // the dispatcher keeps taking and failing POSTs meanwhile
	if p.exited() {
		t.Fatalf("the process exited on a full disk (code %d)\nstderr:\n%s", p.code, tail(p.stderr(), 30))
	}
	if len(p.logsWith("spool: disk full: ingest paused, delivery continues in the reserved space; resumes by itself when space returns")) != 1 {
		t.Errorf("want exactly one WARN for the full disk\nstderr:\n%s", tail(p.stderr(), 20))
	}

	down.Store(false) // the service answers again
	ingestAwaitStored(t, emu, int64(len(acked)), 60*time.Second, p)
	resumed := false
	for deadline := time.Now().Add(30 * time.Second); !resumed && time.Now().Before(deadline); {
		switch code, _ := spoolFaultPost(t, url, all[next:next+per]); code {
		case http.StatusOK:
			acked = append(acked, all[next:next+per]...)
			next += per
			resumed = true
		case http.StatusServiceUnavailable:
			time.Sleep(200 * time.Millisecond)
		default:
			t.Fatalf("POST rows after recovery: %d", code)
		}
	}
	if !resumed {
		t.Fatalf("ingest did not resume by itself after delivery freed the spool\nstderr:\n%s", tail(p.stderr(), 30))
	}
	ingestAwaitStored(t, emu, int64(len(acked)), 60*time.Second, p)
	p.term(t)
	rows, st := ingestRows(t, emu)
	dups := ingestDups(t, acked, rows)
	t.Logf("%d rows answered 200, all delivered (%d duplicates) in %d POSTs", len(acked), dups, st.Posts)
}

// TestDamagedSpoolE2E: the daemon starts on spool files truncated at three points (half the
// file, half the used pages, one page short) and damaged at random: it never dies of a fault,
// moves the damaged file aside (ERROR log), accepts and delivers new rows, and `spool salvage`
// re-queues the rows of the intact pages.
func TestDamagedSpoolE2E(t *testing.T) {
	t.Parallel()
	l := limits{rowsPerPost: 10000, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 5}
	// A spool with rows waiting: the service refuses them, the daemon is stopped cleanly.
	seedDir := t.TempDir()
	refusing := ingestEmulator(t, l, emulator.Options{ThrottleRate: 1})
	src, env, url := ingestHTTPSource(t)
	cfg := ingestConfig(t, seedDir, refusing, l, src)
	p := ingestStart(t, "seed", cfg, env...)
	seeded := genRows(8_000_000, 6000)
	for i := 0; i < len(seeded); i += 1000 {
		if code := ingestPostRows(t, p, url, seeded[i:i+1000], -1, nil); code != http.StatusOK {
			t.Fatalf("seed: %d", code)
		}
	}
	p.term(t)
	seed, err := os.ReadFile(filepath.Join(seedDir, "spool.db"))
	spoolFaultMust(t, err)
	used := spoolUsedBytes(t, seed)
	cuts := []struct {
		name       string
		data       []byte
		quarantine bool
	}{
		{"half the file", seed[:len(seed)/2], len(seed)/2 < used},
		{"half the used pages", seed[:used/2/4096*4096], true},
		{"one page short", seed[:used-4096], true},
		{"garbage root page", spoolGarbagePage(seed), true},
	}
	for i, c := range cuts {
		healthy := ingestEmulator(t, l, emulator.Options{})
		dir := t.TempDir()
		spoolFaultMust(t, os.WriteFile(filepath.Join(dir, "spool.db"), c.data, 0o600))
		cfg := ingestConfig(t, dir, healthy, l, src)
		p := ingestStart(t, fmt.Sprintf("damaged-%d", i), cfg, env...)
		fresh := genRows(9_000_000+i*1000, 100)
		if code := ingestPostRows(t, p, url, fresh, -1, nil); code != http.StatusOK {
			t.Fatalf("%s: new rows answered %d", c.name, code)
		}
		ingestAwaitStored(t, healthy, int64(len(fresh)), 30*time.Second, p)
		moved, _ := filepath.Glob(filepath.Join(dir, "spool.db.corrupt-*"))
		if c.quarantine && len(moved) != 1 {
			t.Fatalf("%s: %d files moved aside, want 1\nstderr:\n%s", c.name, len(moved), tail(p.stderr(), 20))
		}
		if len(moved) == 1 && len(p.logsWith("spool file corrupt: moved aside, starting a fresh spool; recover its rows with `pbi-pusher spool salvage`")) != 1 {
			t.Errorf("%s: quarantine not logged once", c.name)
		}
		p.term(t)
		if len(moved) == 1 {
			r := runBinary(t, time.Minute, env, "spool", "salvage", moved[0], "-config", cfg, "-json")
			var out struct {
				PagesSkipped int `json:"pages_skipped"`
				QueueRows    int `json:"queue_rows"`
			}
			_ = json.Unmarshal([]byte(r.stdout), &out)
			t.Logf("%s: salvage exit %d: %d rows, %d pages skipped", c.name, r.code, out.QueueRows, out.PagesSkipped)
			if out.QueueRows == 0 {
				t.Errorf("%s: salvage recovered nothing\n%s\n%s", c.name, r.stdout, r.stderr)
			}
		}
	}
}

// spoolUsedBytes is the end of the pages the newest meta page counts (its high-water mark).
func spoolUsedBytes(t *testing.T, b []byte) int {
	t.Helper()
	meta := func(off int) (txid, hwm uint64) {
		m := b[off+16:]
		return leU64(m[48:]), leU64(m[40:])
	}
	t0, h0 := meta(0)
	t1, h1 := meta(4096)
	if t1 > t0 {
		h0 = h1
	}
	return int(h0) * 4096
}

func leU64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// spoolGarbagePage overwrites the root page of the newest meta page (always in use) with
// garbage.
func spoolGarbagePage(seed []byte) []byte {
	m0, m1 := seed[16:], seed[4096+16:]
	root := leU64(m0[16:])
	if leU64(m1[48:]) > leU64(m0[48:]) {
		root = leU64(m1[16:])
	}
	out := bytes.Clone(seed)
	for i := int(root) * 4096; i < int(root+1)*4096; i++ {
		out[i] = byte(i * 7)
	}
	return out
}

func spoolFaultMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

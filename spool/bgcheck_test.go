package spool_test

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// deferCheck opens every file as a large one: after an unclean stop the full check and the row
// scan run in the background (as Open does for files over DefaultFullCheckMaxBytes).
var deferCheck = spool.NoCheckDelay(spool.Options{FullCheckMaxBytes: -1, NoSync: true})

// uncleanImage builds a spool and copies its file while it is open (an unclean stop: no current
// clean-shutdown marker): queue A holds a-00000..a-01999 except a-00010..a-00019 (acked out of
// order: a hole the estimate counts), a-00000..a-00009 in flight; queue B b-00000..b-00499; one
// dead letter. It returns the copy and the rows of A and B it holds.
func uncleanImage(t *testing.T) (path string, a, b []string) {
	t.Helper()
	dir := t.TempDir()
	s, err := spool.Open(filepath.Join(dir, "live.db"), spool.Options{NoSync: true})
	must(t, err)
	ra, rb := padded("a", 2000), padded("b", 500)
	mustAppend(t, s, qA, ra)
	mustAppend(t, s, qB, rb)
	b1, b2 := mustTake(t, s, qA, 10, 0), mustTake(t, s, qA, 10, 0)
	must(t, s.Ack(b2))
	must(t, s.Nack(b1))
	mustTake(t, s, qA, 10, 0)
	must(t, s.Append(t.Context(), spool.Write{DeadLetters: []spool.DeadLetter{{Data: []byte("x"), Reason: "decode"}}}))
	path = filepath.Join(dir, "spool.db")
	data, err := os.ReadFile(filepath.Join(dir, "live.db"))
	must(t, err)
	must(t, os.WriteFile(path, data, 0o600))
	must(t, s.Close())
	a = slices.Concat(strs(ra[:10]), strs(ra[20:]))
	return path, a, strs(rb)
}

// TestUncleanOpenChecksInBackground: after an unclean stop a large file opens on estimates and
// delivers at once; rows taken, acked and appended while the check runs are accounted exactly
// once it ends (Check compares the counters with a scan of the file), and the clean Close after
// it writes a marker the next Open trusts.
func TestUncleanOpenChecksInBackground(t *testing.T) {
	path, a, b := uncleanImage(t)
	gate := make(chan struct{})
	s, err := spool.Open(path, spool.WithCheckGate(deferCheck, gate))
	must(t, err)
	st := s.Stats()
	if !st.Checking || st.Queues[qA].Rows < len(a) || st.Queues[qB].Rows < len(b) {
		t.Fatalf("before the check: checking %v, A %d rows (want >= %d), B %d rows (want >= %d)",
			st.Checking, st.Queues[qA].Rows, len(a), st.Queues[qB].Rows, len(b))
	}
	first := mustTake(t, s, qA, 100, 0) // delivery before the check ends
	if got := ids(first); !slices.Equal(got, a[:100]) {
		t.Fatalf("first take: %d rows from %.20s, want the oldest 100 from %.20s", len(got), got[0], a[0])
	}
	must(t, s.Ack(first))
	late := padded("late", 50)
	mustAppend(t, s, qA, late)
	held := mustTake(t, s, qB, 10, 0)
	close(gate)
	s.WaitChecked()
	st = s.Stats()
	if st.Checking || st.Queues[qA].Rows != len(a)-100+len(late) || st.Queues[qB].Rows != len(b)-10 ||
		st.InFlight != 10 || st.DeadLetters != 1 {
		t.Fatalf("after the check: checking %v, A %d rows (want %d), B %d (want %d), in flight %d, dead %d",
			st.Checking, st.Queues[qA].Rows, len(a)-100+len(late), st.Queues[qB].Rows, len(b)-10, st.InFlight, st.DeadLetters)
	}
	must(t, s.Check())
	must(t, s.Nack(held))
	must(t, s.Close())

	s, err = spool.Open(path, deferCheck) // clean now: the marker, no background check
	must(t, err)
	defer func() { must(t, s.Close()) }()
	if s.Stats().Checking {
		t.Fatal("a clean restart checks in the background")
	}
	must(t, s.Check())
	if got, want := ids(mustTake(t, s, qA, 0, 0)), slices.Concat(a[100:], strs(late)); !slices.Equal(got, want) {
		t.Fatalf("queue A after the restart: %d rows, want %d", len(got), len(want))
	}
}

// TestTakeOnOverestimate: the estimate counts a queue's key span, holes included; a Take that
// finds no row left returns nil (never an empty batch) and the counts end exact.
func TestTakeOnOverestimate(t *testing.T) {
	path, a, _ := uncleanImage(t)
	gate := make(chan struct{})
	s, err := spool.Open(path, spool.WithCheckGate(deferCheck, gate))
	must(t, err)
	defer func() { must(t, s.Close()) }()
	var got []string
	for {
		b := mustTake(t, s, qA, 300, 0)
		if b == nil {
			break
		}
		if len(b.Rows) == 0 {
			t.Fatal("empty batch")
		}
		got = append(got, ids(b)...)
		must(t, s.Ack(b))
	}
	if !slices.Equal(got, a) {
		t.Fatalf("drained %d rows, want %d", len(got), len(a))
	}
	if n := s.Stats().Queues[qA].Rows; n != 0 {
		t.Fatalf("drained queue counts %d rows", n)
	}
	close(gate)
	s.WaitChecked()
	must(t, s.Check())
}

// TestBackgroundCheckFindsDamage: damage that only the full check sees (a page neither reachable
// nor free; a smashed leaf in the middle of queue B) is found after delivery started: the file is
// moved aside (logged once at ERROR), delivery goes on with a fresh file, and every readable row
// is salvaged into it: acknowledged rows are never lost (rows taken meanwhile may come twice).
func TestBackgroundCheckFindsDamage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		wholeB bool
	}{
		{"leaked page", dropFreePage, true},
		{"smashed leaf", func(t *testing.T, path string) { smashLeafOf(t, path, []byte(`{"id":"b-004`)) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, a, b := uncleanImage(t)
			tc.damage(t, path)
			var logs bytes.Buffer
			gate := make(chan struct{})
			o := spool.WithCheckGate(deferCheck, gate)
			o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			s, err := spool.Open(path, o)
			must(t, err)
			defer func() { must(t, s.Close()) }()
			first := mustTake(t, s, qA, 100, 0) // delivery runs on the damaged file
			must(t, s.Ack(first))
			late := padded("late", 50)
			mustAppend(t, s, qA, late)
			held := mustTake(t, s, qA, 10, 0) // in flight when the damage is found
			close(gate)
			s.WaitChecked()

			st := s.Stats()
			if st.Quarantined != 1 || st.Checking {
				t.Fatalf("quarantined %d, checking %v; want 1, false\n%s", st.Quarantined, st.Checking, logs.String())
			}
			if n := strings.Count(logs.String(), "moved aside"); n != 1 || strings.Count(logs.String(), "level=ERROR") > 2 {
				t.Fatalf("damage logged %d times (want once):\n%s", n, logs.String())
			}
			if moved, _ := filepath.Glob(path + ".corrupt-*"); len(moved) != 1 {
				t.Fatalf("quarantined files %v", moved)
			}
			fresh := mustTake(t, s, qA, 200, 0) // the salvaged rows' keys continue the old file's
			for _, r := range fresh.Rows {
				for _, h := range held.Rows {
					if r.Seq == h.Seq {
						t.Fatalf("row %.20s taken after the repair has the key %d of a row taken before", r.Data, r.Seq)
					}
				}
			}
			// An answer for a batch taken before the repair does nothing: its rows were salvaged.
			must(t, s.Ack(held))
			if st := s.Stats(); st.InFlight != len(fresh.Rows) {
				t.Fatalf("in flight %d after the stale ack, want %d", st.InFlight, len(fresh.Rows))
			}
			must(t, s.Nack(fresh))
			must(t, s.Check())
			mustAppend(t, s, qA, rows("after", 1))
			gotA := map[string]bool{}
			for _, r := range ids(mustTake(t, s, qA, 0, 0)) {
				gotA[r] = true
			}
			for _, r := range slices.Concat(a[100:], strs(late), ids(held)) {
				if !gotA[r] {
					t.Fatalf("acknowledged row %.20s lost (%d rows in A)", r, len(gotA))
				}
			}
			gotB := ids(mustTake(t, s, qB, 0, 0))
			if tc.wholeB && !slices.Equal(gotB, b) || !isSubsequence(gotB, b) || len(gotB) < len(b)*3/4 {
				t.Fatalf("queue B: %d of %d rows salvaged", len(gotB), len(b))
			}
			t.Logf("A %d rows, B %d of %d rows after the repair", len(gotA), len(gotB), len(b))
		})
	}
}

// dropFreePage removes the last id from the freelist of the file's current meta: that page is
// then neither reachable nor free, which only the full check notices.
func dropFreePage(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	le := binary.LittleEndian
	const hdr = 16
	ps := int(le.Uint32(data[hdr+8:]))
	meta := data[hdr:]
	if m1 := data[ps+hdr:]; le.Uint64(m1[48:]) > le.Uint64(meta[48:]) {
		meta = m1
	}
	free := int(le.Uint64(meta[32:]))
	p := data[free*ps:]
	n := le.Uint16(p[10:])
	if n == 0 || n == 0xFFFF {
		t.Fatalf("freelist page %d holds %d ids", free, n)
	}
	le.PutUint16(p[10:], n-1)
	must(t, os.WriteFile(path, data, 0o600))
}

// TestSmallFileCheckedByUsedPages: FullCheckMaxBytes counts used pages, not the file bbolt grew
// ahead: a cleanly closed file of a few hundred KB under a 1 MiB threshold is fully checked at
// Open (and its damage found there) although the file is 16 MiB long.
func TestSmallFileCheckedByUsedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	seedSpool(t, path, 1000)
	smashLeafOf(t, path, []byte(`{"id":"b-002`))
	fi, err := os.Stat(path)
	must(t, err)
	s, err := spool.Open(path, spool.Options{FullCheckMaxBytes: 1 << 20})
	must(t, err)
	defer func() { must(t, s.Close()) }()
	if st := s.Stats(); st.Quarantined != 1 {
		t.Fatalf("file of %d bytes (a few hundred KB used) opened on its marker: quarantined %d", fi.Size(), st.Quarantined)
	}
}

// TestDeferredOpenChecksWhatItReads: after an unclean stop, the pages Open itself reads through
// bbolt (here the first leaf of queue A, where the estimate and Take start) are checked with
// pread before bbolt maps the file: damage there is found at Open, quarantined, never a crash.
func TestDeferredOpenChecksWhatItReads(t *testing.T) {
	path, _, b := uncleanImage(t)
	smashLeafOf(t, path, []byte(`{"id":"a-00000`))
	s, err := spool.Open(path, deferCheck)
	must(t, err)
	defer func() { must(t, s.Close()) }()
	if st := s.Stats(); st.Quarantined != 1 || st.Checking {
		t.Fatalf("damage in the first leaf: quarantined %d, checking %v; want 1, false", st.Quarantined, st.Checking)
	}
	moved, _ := filepath.Glob(path + ".corrupt-*")
	if len(moved) != 1 {
		t.Fatalf("quarantined files %v", moved)
	}
	if _, err := spool.Salvage(t.Context(), moved[0], s); err == nil {
		t.Fatal("salvage of a damaged file reports no loss")
	}
	if got := ids(mustTake(t, s, qB, 0, 0)); !slices.Equal(got, b) {
		t.Fatalf("queue B salvaged %d of %d rows", len(got), len(b))
	}
}

// TestDeferredOpenRefusesACycle: a branch page of queue A whose first child is itself (bbolt
// would descend it forever) is found by the pread walk before bbolt maps the file: quarantined.
func TestDeferredOpenRefusesACycle(t *testing.T) {
	path, _, _ := uncleanImage(t)
	db, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	var root int
	must(t, db.View(func(tx *bolt.Tx) error {
		root = int(tx.Bucket([]byte("queues")).Bucket([]byte(qA.Dataset + "\x00" + qA.Table)).Root())
		return nil
	}))
	ps := db.Info().PageSize
	must(t, db.Close())
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	hdr := make([]byte, 16+16)
	_, err = f.ReadAt(hdr, int64(root*ps))
	must(t, err)
	if flags := binary.LittleEndian.Uint16(hdr[8:]); flags != 0x01 {
		t.Fatalf("root of queue A (page %d) is not a branch: flags %#x", root, flags)
	}
	binary.LittleEndian.PutUint64(hdr[16+8:], uint64(root)) // first child: itself
	_, err = f.WriteAt(hdr, int64(root*ps))
	must(t, err)
	must(t, f.Close())
	s, err := spool.Open(path, deferCheck)
	must(t, err)
	defer func() { must(t, s.Close()) }()
	if st := s.Stats(); st.Quarantined != 1 {
		t.Fatalf("a cycle in queue A's first path: quarantined %d, want 1", st.Quarantined)
	}
}

package spool_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// seedFile writes a spool with n rows in qA (appended in chunks, some acked, some in
// flight), qB too when twoQueues, and a dead letter, and returns its bytes: closed cleanly, or
// (crash=true) copied while still open, as a crash leaves it.
func seedFile(t *testing.T, crash, twoQueues bool, n int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seed.db")
	s, err := spool.Open(path, spool.Options{NoSync: true})
	must(t, err)
	a := padded("a", n)
	for i := 0; i < len(a); i += 500 {
		mustAppend(t, s, qA, a[i:min(i+500, n)])
	}
	must(t, s.Ack(mustTake(t, s, qA, 300, 0)))
	if twoQueues {
		mustAppend(t, s, qB, padded("b", n/3))
	}
	mustTake(t, s, qA, 10, 0)
	must(t, s.Append(context.Background(), spool.Write{DeadLetters: []spool.DeadLetter{{Data: []byte("x"), Reason: "decode"}}}))
	var b []byte
	if crash {
		b, err = os.ReadFile(path)
		must(t, err)
	}
	must(t, s.Close())
	if !crash {
		b, err = os.ReadFile(path)
		must(t, err)
	}
	return usedPages(b)
}

// usedPages cuts a bbolt file image after its last allocated page (the larger page id of the two
// meta pages): bbolt grows its file ahead by a sparse truncate, and damage to that never-used
// tail is damage nothing reads, so the seeded damage goes to the pages that hold the data.
func usedPages(b []byte) []byte {
	ps := int(binary.LittleEndian.Uint32(b[24:]))
	hwm := max(binary.LittleEndian.Uint64(b[56:]), binary.LittleEndian.Uint64(b[ps+56:]))
	return b[:min(len(b), int(hwm)*ps)]
}

// liveRowPages returns, for each live (reachable, not free) leaf page of the file, the row ids
// on it, found with bbolt's own page typing and a plain text search: independent of the spool's
// page reader.
func liveRowPages(t *testing.T, path string) (pageSize int, pages map[int][]string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	must(t, err)
	defer db.Close()
	raw, err := os.ReadFile(path)
	must(t, err)
	pageSize = db.Info().PageSize
	pages = map[int][]string{}
	idRe := regexp.MustCompile(`"id":"[ab]-\d{5}"`)
	err = db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return err
			}
			if p.Type != "leaf" {
				continue
			}
			end := (id + p.OverflowCount + 1) * pageSize
			for _, m := range idRe.FindAll(raw[id*pageSize:end], -1) {
				pages[id] = append(pages[id], string(m[6:len(m)-1]))
			}
			pages[id] = append(pages[id], fmt.Sprint(p.OverflowCount)) // last entry: overflow pages
		}
	})
	must(t, err)
	return pageSize, pages
}

// TestTruncatedSpoolQuarantinedAndSalvaged cuts a spool file at three points: Open must not die
// of a fault, must quarantine when pages in use are gone and keep accepting rows, and salvage
// must recover every row on a page that is still whole (counted independently), invent none and
// duplicate none.
func TestTruncatedSpoolQuarantinedAndSalvaged(t *testing.T) {
	t.Parallel()
	for _, crash := range []bool{false, true} {
		seed := seedFile(t, crash, false, 4000)
		written := map[string]bool{}
		for _, r := range padded("a", 4000) {
			written[string(r)] = true
		}
		orig := filepath.Join(t.TempDir(), "orig.db")
		must(t, os.WriteFile(orig, seed, 0o600))
		ps, pages := liveRowPages(t, orig)
		used := 0
		for id, ids := range pages {
			var over int
			fmt.Sscan(ids[len(ids)-1], &over)
			used = max(used, (id+over+1)*ps)
		}
		cuts := map[string]int{"half the file": len(seed) / 2, "half the used pages": used / 2 / ps * ps, "one page short": used - ps}
		for name, cut := range cuts {
			t.Run(fmt.Sprintf("crash=%v/%s", crash, name), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "spool.db")
				must(t, os.WriteFile(path, seed[:cut], 0o600))
				var logs bytes.Buffer
				s, err := spool.Open(path, spool.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
				must(t, err)
				defer func() { must(t, s.Close()) }()
				if cut >= used { // only the unused tail went: nothing is lost, nothing to quarantine
					if st := s.Stats(); st.Quarantined != 0 || st.Queues[qA].Rows != 3700 {
						t.Fatalf("file cut at %d past its %d used bytes: quarantined %d, %d rows; want 0, 3700", cut, used, st.Quarantined, st.Queues[qA].Rows)
					}
					must(t, s.Check())
					return
				}
				if s.Stats().Quarantined != 1 {
					t.Fatalf("file cut at %d of %d used bytes not quarantined", cut, used)
				}
				mustAppend(t, s, qA, rows("new", 2)) // keeps accepting rows
				if got := ids(mustTake(t, s, qA, 0, 0)); len(got) != 2 {
					t.Fatalf("fresh spool holds %q", got)
				}
				must(t, s.Check())
				moved, _ := filepath.Glob(path + ".corrupt-*")
				want := map[string]bool{}
				for id, ids := range pages {
					var over int
					fmt.Sscan(ids[len(ids)-1], &over)
					if (id+over+1)*ps <= cut {
						for _, r := range ids[:len(ids)-1] {
							want[r] = true
						}
					}
				}
				assertSalvage(t, moved[0], want, written)
			})
		}
	}
}

// assertSalvage salvages file into a fresh spool and checks that every row of want came back,
// no row twice and no row that was never written.
func assertSalvage(t *testing.T, file string, want, written map[string]bool) {
	t.Helper()
	into, err := spool.Open(filepath.Join(t.TempDir(), "into.db"), spool.Options{NoSync: true})
	must(t, err)
	defer func() { must(t, into.Close()) }()
	res, err := spool.SalvageFile(context.Background(), file, into, spool.SalvageOptions{Queues: []spool.QueueKey{qA}})
	t.Logf("salvage: %d rows (%d orphans), %d pages and %d rows skipped; err %v", res.Rows, res.Orphans, res.PagesSkipped, res.RowsSkipped, err)
	got := map[string]int{}
	idRe := regexp.MustCompile(`"id":"([ab]-\d{5})"`)
	for _, q := range []spool.QueueKey{qA, qB} {
		b, err := into.Take(q, 0, 0)
		must(t, err)
		if b == nil {
			continue
		}
		for _, r := range b.Rows {
			m := idRe.FindSubmatch(r.Data)
			if m == nil || !written[string(r.Data)] {
				t.Fatalf("salvage invented a row: %.60s", r.Data)
			}
			got[string(m[1])]++
		}
	}
	for id, n := range got {
		if n > 1 {
			t.Fatalf("row %s salvaged %d times", id, n)
		}
	}
	missing := 0
	for id := range want {
		if got[id] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("salvage missed %d of %d rows on intact pages (got %d rows)", missing, len(want), len(got))
	}
}

// TestRandomCorruptionNeverKills damages copies of a spool file in 200 seeded ways (bytes,
// whole pages, page headers; clean and crash images): Open must never die of a fault; the spool
// it returns must pass its check and accept, take and ack rows; a quarantined file must salvage
// without inventing rows. The same again for crash images taken as large files: they open on
// estimates and are checked in the background (bgcheck.go).
func TestRandomCorruptionNeverKills(t *testing.T) {
	t.Parallel()
	clean, crash := seedFile(t, false, true, 600), seedFile(t, true, true, 600)
	randomCorruption(t, spool.Options{NoSync: true}, clean, crash)
	randomCorruption(t, deferCheck, crash)
}

func randomCorruption(t *testing.T, opts spool.Options, seeds ...[]byte) {
	written := map[string]bool{}
	for _, r := range append(padded("a", 600), padded("b", 200)...) {
		written[string(r)] = true
	}
	const cases = 200
	quarantined := 0
	for i := range cases {
		rng := rand.New(rand.NewPCG(uint64(i), 11))
		seed := seeds[i%len(seeds)]
		data := bytes.Clone(seed)
		ps := 4096
		what := corrupt(rng, data, ps)
		path := filepath.Join(t.TempDir(), "spool.db")
		must(t, os.WriteFile(path, data, 0o600))
		s, err := spool.Open(path, opts)
		if err != nil {
			t.Fatalf("case %d (%s): open: %v", i, what, err)
		}
		s.WaitChecked()
		st := s.Stats()
		quarantined += st.Quarantined
		if err := s.Check(); err != nil {
			t.Fatalf("case %d (%s): opened without quarantine but check fails: %v", i, what, err)
		}
		mustAppend(t, s, qA, rows(fmt.Sprintf("c%d", i), 1))
		for _, q := range []spool.QueueKey{qA, qB} {
			if b, err := s.Take(q, 0, 0); err != nil {
				t.Fatalf("case %d (%s): take: %v", i, what, err)
			} else if b != nil {
				must(t, s.Ack(b))
			}
		}
		must(t, s.Close())
		if st.Quarantined == 1 {
			moved, _ := filepath.Glob(path + ".corrupt-*")
			into, err := spool.Open(filepath.Join(t.TempDir(), "into.db"), spool.Options{NoSync: true})
			must(t, err)
			_, _ = spool.SalvageFile(context.Background(), moved[0], into, spool.SalvageOptions{})
			for _, q := range []spool.QueueKey{qA, qB} {
				b, err := into.Take(q, 0, 0)
				must(t, err)
				for _, r := range rowsOf(b) {
					if !written[string(r)] {
						t.Fatalf("case %d (%s): salvage invented a row: %.60s", i, what, r)
					}
				}
			}
			must(t, into.Close())
		}
	}
	t.Logf("%d of %d damaged files quarantined (the rest were damaged only in row bytes or free pages)", quarantined, cases)
	if quarantined < cases/4 {
		t.Fatalf("only %d of %d damaged files quarantined: the damage is not reaching the structure", quarantined, cases)
	}
}

func rowsOf(b *spool.Batch) [][]byte {
	if b == nil {
		return nil
	}
	out := make([][]byte, len(b.Rows))
	for i, r := range b.Rows {
		out[i] = r.Data
	}
	return out
}

// corrupt damages data in one of several ways and says which.
func corrupt(rng *rand.Rand, data []byte, ps int) string {
	pages := len(data) / ps
	page := 2 + rng.IntN(pages-2)
	switch rng.IntN(5) {
	case 0: // a run of random bytes anywhere past the meta pages
		off, n := 2*ps+rng.IntN(len(data)-2*ps-64), 1+rng.IntN(64)
		for j := range n {
			data[off+j] = byte(rng.Uint32())
		}
		return fmt.Sprintf("%d random bytes at %d", n, off)
	case 1: // a page of zeros
		clear(data[page*ps : (page+1)*ps])
		return fmt.Sprintf("page %d zeroed", page)
	case 2: // a page of garbage
		for j := page * ps; j < (page+1)*ps; j++ {
			data[j] = byte(rng.Uint32())
		}
		return fmt.Sprintf("page %d garbage", page)
	case 3: // the page header and element table
		for j := page * ps; j < page*ps+16+rng.IntN(256); j++ {
			data[j] = byte(rng.Uint32())
		}
		return fmt.Sprintf("page %d header", page)
	default: // a meta page field
		off := rng.IntN(2)*ps + 16 + rng.IntN(64)
		data[off] ^= byte(1 + rng.IntN(255))
		return fmt.Sprintf("meta byte %d", off)
	}
}

package spool_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pbi-pusher/pbi-pusher/spool"
	"github.com/pbi-pusher/pbi-pusher/spool/spooltest"
)

func TestOpenQuarantinesUnopenableFile(t *testing.T) {
	tests := []struct {
		name    string
		content []byte
	}{
		{"random bytes", []byte(strings.Repeat(rand.Text(), 3000))},
		{"too small", []byte("bolt?")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spool.db")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			s := openFresh(t, path)
			assertQuarantined(t, path, tc.content)
			mustAppend(t, s, qA, rows("r", 1)) // the fresh spool works
		})
	}
}

// openFresh opens path expecting a quarantine, and checks and closes the spool at cleanup.
func openFresh(t *testing.T, path string) *spool.Spool {
	t.Helper()
	var logs bytes.Buffer
	s, err := spool.Open(path, spool.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), ".corrupt-") {
		t.Errorf("quarantine not logged at error level naming the moved file:\n%s", logs.String())
	}
	t.Cleanup(func() {
		must(t, s.Check())
		must(t, s.Close())
	})
	if st := s.Stats(); st.Quarantined != 1 || len(st.Queues) != 0 {
		t.Fatalf("stats after open: quarantined %d, %d queues; want 1 and a fresh spool", st.Quarantined, len(st.Queues))
	}
	return s
}

// assertQuarantined checks that exactly one PATH.corrupt-* file exists and holds content.
func assertQuarantined(t *testing.T, path string, content []byte) string {
	t.Helper()
	moved, _ := filepath.Glob(path + ".corrupt-*")
	if len(moved) != 1 {
		t.Fatalf("quarantined files %q, want one", moved)
	}
	if got, _ := os.ReadFile(moved[0]); content != nil && string(got) != string(content) {
		t.Fatalf("quarantined file changed")
	}
	return moved[0]
}

func TestOpenDoesNotQuarantineOSErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "spool.db")
	if s, err := spool.Open(path, spool.Options{}); err == nil {
		_ = s.Close()
		t.Fatal("opened a spool in a missing directory")
	}
	if moved, _ := filepath.Glob(filepath.Dir(path) + "*corrupt*"); len(moved) != 0 {
		t.Fatalf("quarantined %q", moved)
	}
}

func TestOpenInUseNamesPid(t *testing.T) {
	h := spooltest.New(t, spool.Options{})
	start := time.Now()
	_, err := spool.Open(h.Path, spool.Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, spool.ErrInUse) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second open: %v, want ErrInUse naming pid %d", err, os.Getpid())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second open took %v: it must fail fast", d)
	}
}

// seedSpool fills a spool at path with n rows in qA and qB, some in flight, and dead letters.
func seedSpool(t *testing.T, path string, n int) (a, b []string) {
	t.Helper()
	s, err := spool.Open(path, spool.Options{NoSync: true})
	must(t, err)
	defer func() { must(t, s.Close()) }()
	ra, rb := padded("a", n), padded("b", n)
	mustAppend(t, s, qA, ra)
	mustAppend(t, s, qB, rb)
	mustTake(t, s, qA, 10, 0) // in flight at close: salvage must include them
	must(t, s.Append(context.Background(), spool.Write{DeadLetters: []spool.DeadLetter{{Data: []byte("x"), Reason: "decode"}}}))
	return strs(ra), strs(rb)
}

// padded returns n rows of about 200 bytes.
func padded(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"id":"%s-%05d","pad":"%s"}`, prefix, i, strings.Repeat("p", 170))
	}
	return out
}

func TestSalvageHealthyFile(t *testing.T) {
	src := filepath.Join(t.TempDir(), "old.db")
	a, b := seedSpool(t, src, 500)
	h := spooltest.New(t, spool.Options{})
	n, err := spool.Salvage(context.Background(), src, h.S)
	if err != nil || n != 1001 {
		t.Fatalf("salvage: %d, %v; want 1001 (500+500 rows, 1 dead letter), nil", n, err)
	}
	if got := ids(mustTake(t, h.S, qA, 0, 0)); !slices.Equal(got, a) {
		t.Fatalf("queue A salvaged %d rows out of order or incomplete", len(got))
	}
	if got := ids(mustTake(t, h.S, qB, 0, 0)); !slices.Equal(got, b) {
		t.Fatalf("queue B salvaged %d rows", len(got))
	}
	if got := h.S.Stats().DeadLetters; got != 1 {
		t.Fatalf("dead letters %d, want 1", got)
	}
}

// TestCorruptPageQuarantineAndSalvage damages one leaf page of queue A: Open must quarantine the
// file (tx.Check fails), and Salvage must recover queue B whole and queue A except that page
// (reading around it from both ends), in order, without panicking.
func TestCorruptPageQuarantineAndSalvage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	a, b := seedSpool(t, path, 2000)
	smashLeafOf(t, path, []byte(`{"id":"a-01`))
	s := openFresh(t, path)
	moved := assertQuarantined(t, path, nil)

	n, err := spool.Salvage(context.Background(), moved, s)
	if err == nil || n == 0 {
		t.Fatalf("salvage of a damaged file: %d rows, err %v; want some rows and an error listing what was skipped", n, err)
	}
	t.Logf("salvaged %d rows; skipped: %v", n, err)
	gotB := ids(mustTake(t, s, qB, 0, 0))
	if !slices.Equal(gotB, b) {
		t.Fatalf("queue B: %d rows salvaged, want all %d", len(gotB), len(b))
	}
	gotA := ids(mustTake(t, s, qA, 0, 0))
	if len(gotA) < len(a)*9/10 || len(gotA) >= len(a) || !isSubsequence(gotA, a) {
		t.Fatalf("queue A: %d of %d rows salvaged; want all but the damaged page, in order", len(gotA), len(a))
	}
}

// smashLeafOf overwrites (after its page header) the leaf page holding a key whose value starts
// with marker.
func smashLeafOf(t *testing.T, path string, marker []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	var pgid int
	err = db.View(func(tx *bolt.Tx) error {
		for id := 2; pgid == 0; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return fmt.Errorf("no leaf page with %q (page %d: %v)", marker, id, err)
			}
			if p.Type == "leaf" && pageHolds(db, id, marker) {
				pgid = id
			}
		}
		return nil
	})
	pageSize := db.Info().PageSize
	must(t, db.Close())
	must(t, err)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	garbage := make([]byte, pageSize)
	for i := range garbage {
		garbage[i] = 0xA5
	}
	_, err = f.WriteAt(garbage, int64(pgid*pageSize))
	must(t, err)
}

func pageHolds(db *bolt.DB, id int, marker []byte) bool {
	buf := make([]byte, db.Info().PageSize)
	f, err := os.Open(db.Path())
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.ReadAt(buf, int64(id*len(buf))); err != nil {
		return false
	}
	return strings.Contains(string(buf), string(marker))
}

func isSubsequence(sub, all []string) bool {
	i := 0
	for _, s := range all {
		if i < len(sub) && sub[i] == s {
			i++
		}
	}
	return i == len(sub)
}

func TestSalvageUnopenableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "garbage")
	must(t, os.WriteFile(path, []byte(strings.Repeat("garbage!", 4096)), 0o600))
	h := spooltest.New(t, spool.Options{})
	if n, err := spool.Salvage(context.Background(), path, h.S); err == nil || n != 0 {
		t.Fatalf("salvage of garbage: %d, %v; want 0 and an error", n, err)
	}
}

package spool_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/spool"
	"github.com/pbi-pusher/pbi-pusher/spool/spooltest"
)

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	must(t, err)
	return fi.Size()
}

// fillAndDrain appends n ~200-byte rows to qA and acks all but keep of them.
func fillAndDrain(t *testing.T, s *spool.Spool, n, keep int) {
	t.Helper()
	data := padded("a", n)
	for i := 0; i < n; i += 1000 {
		mustAppend(t, s, qA, data[i:min(i+1000, n)])
	}
	for s.Backlog(qA).Rows > keep {
		must(t, s.Ack(mustTake(t, s, qA, min(1000, s.Backlog(qA).Rows-keep), 0)))
	}
}

func TestMaybeCompactShrinksDrainedFile(t *testing.T) {
	h := spooltest.New(t, spool.Options{NoSync: true, CompactMinBytes: 1 << 20})
	must(t, h.S.SetMeta("dataset/sales", []byte("id-1")))
	must(t, h.S.SetMeta("empty", []byte{}))
	fillAndDrain(t, h.S, 20000, 3)
	inflight := mustTake(t, h.S, qA, 1, 0)
	before := fileSize(t, h.Path)
	done, err := h.S.MaybeCompact(context.Background())
	if err != nil || !done {
		t.Fatalf("MaybeCompact: %v, %v", done, err)
	}
	after := fileSize(t, h.Path)
	if after*4 > before {
		t.Fatalf("file %d bytes -> %d after compaction; want at least 4x smaller", before, after)
	}
	t.Logf("compacted %d -> %d bytes", before, after)
	h.MustCheck()
	// Everything survives: in-flight state, ready rows, meta, delivered count, and new rows
	// still sort after old ones (bucket sequences were copied).
	must(t, h.S.Ack(inflight))
	mustAppend(t, h.S, qA, rows("new", 1))
	got := ids(mustTake(t, h.S, qA, 0, 0))
	want := append(strs(padded("a", 20000)[19998:]), `{"id":"new-0"}`)
	if !slices.Equal(got, want) {
		t.Fatalf("after compaction queue holds %q, want %q", got, want)
	}
	if v, _ := h.S.Meta("dataset/sales"); string(v) != "id-1" || h.S.Delivered(qA) != 19998 {
		t.Fatalf("meta %q delivered %d after compaction", v, h.S.Delivered(qA))
	}
	if v, err := h.S.Meta("empty"); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("empty meta value after compaction: %q, %v", v, err)
	}
}

func TestMaybeCompactSkips(t *testing.T) {
	tests := []struct {
		name     string
		minBytes int64
		n, keep  int
	}{
		{"below CompactMinBytes", 1 << 30, 5000, 0},
		{"mostly live data", 1 << 20, 5000, 4500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := spooltest.New(t, spool.Options{NoSync: true, CompactMinBytes: tc.minBytes})
			fillAndDrain(t, h.S, tc.n, tc.keep)
			if done, err := h.S.MaybeCompact(context.Background()); done || err != nil {
				t.Fatalf("MaybeCompact = %v, %v; want no compaction", done, err)
			}
		})
	}
}

func TestOpenCompacts(t *testing.T) {
	h := spooltest.New(t, spool.Options{NoSync: true, CompactMinBytes: 1 << 20})
	fillAndDrain(t, h.S, 20000, 0)
	before := fileSize(t, h.Path)
	s := h.Reopen()
	if st := s.Stats(); st.Compactions != 1 || st.FileBytes*4 > before {
		t.Fatalf("reopen: %d compactions, %d -> %d bytes", st.Compactions, before, st.FileBytes)
	}
}

func TestMaybeCompactCanceled(t *testing.T) {
	h := spooltest.New(t, spool.Options{NoSync: true, CompactMinBytes: 1 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.S.MaybeCompact(ctx); err == nil {
		t.Fatal("MaybeCompact with a canceled context succeeded")
	}
}

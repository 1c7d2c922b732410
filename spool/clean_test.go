package spool_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// trustMarker opens on the clean-shutdown marker alone whatever the file size, as Open does for
// files over DefaultFullCheckMaxBytes.
var trustMarker = spool.Options{FullCheckMaxBytes: -1}

// TestCleanMarkerRestoresState: after a clean Close, an Open that trusts the marker (no scan of
// the rows) must rebuild exactly the state a full scan finds: Check compares them.
func TestCleanMarkerRestoresState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	clk := newClock()
	o := trustMarker
	o.Now = clk.Now
	s, err := spool.Open(path, o)
	must(t, err)
	mustAppend(t, s, qA, padded("a", 3000))
	clk.Add(time.Second)
	mustAppend(t, s, qB, padded("b", 100))
	must(t, s.Ack(mustTake(t, s, qA, 500, 0)))
	must(t, s.Reject(mustTake(t, s, qB, 1, 0), "400"))
	mustTake(t, s, qA, 7, 0) // in flight at Close: ready again after Open
	must(t, s.Append(context.Background(), spool.Write{DeadLetters: []spool.DeadLetter{{Data: []byte("x"), Reason: "decode"}}}))
	want := s.Stats()
	must(t, s.Close())

	s, err = spool.Open(path, o)
	must(t, err)
	defer func() { must(t, s.Close()) }()
	must(t, s.Check())
	got := s.Stats()
	if got.Queues[qA].Rows != want.Queues[qA].Rows+7 || got.Bytes != want.Bytes {
		t.Fatalf("queue A after a clean restart: %+v, before %+v (+7 in flight)", got.Queues[qA], want.Queues[qA])
	}
	if got.Queues[qB] != want.Queues[qB] || got.DeadLetters != want.DeadLetters || s.Delivered(qA) != 500 {
		t.Fatalf("after a clean restart: B %+v dead %d delivered %d; before B %+v dead %d", got.Queues[qB], got.DeadLetters,
			s.Delivered(qA), want.Queues[qB], want.DeadLetters)
	}
	if b := mustTake(t, s, qA, 1, 0); !strings.Contains(string(b.Rows[0].Data), "a-00500") {
		t.Fatalf("first row after restart %s, want a-00500", b.Rows[0].Data)
	}
}

// TestDamageMetWhileRunningIsAnError: a file that opened on its marker (not fully checked) and
// turns out damaged when a page is read: the read fails with an error, never a crash, and the
// next start checks the file in full and moves it aside.
func TestDamageMetWhileRunningIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	seedSpool(t, path, 2000)
	smashLeafOf(t, path, []byte(`{"id":"a-01`))
	var logs bytes.Buffer
	o := trustMarker
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s, err := spool.Open(path, o)
	must(t, err)
	var readErr error
	for readErr == nil {
		var b *spool.Batch
		b, readErr = s.Take(qA, 100, 0)
		if b == nil && readErr == nil {
			t.Fatal("read the whole queue through a damaged page")
		}
	}
	t.Logf("read error: %v", readErr)
	must(t, s.Close())
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("damage not logged at ERROR:\n%s", logs.String())
	}
	s = openFresh(t, path) // no marker written: full check, quarantine
	mustAppend(t, s, qA, rows("new", 1))
}

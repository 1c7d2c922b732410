package spool_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

const es = "eventstream/orders"

func openDests(t *testing.T, path string, q spool.QueueKey, names ...string) *spool.Spool {
	t.Helper()
	s, err := spool.Open(path, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetDestinations(q, names); err != nil {
		t.Fatal(err)
	}
	return s
}

func rowIDs(b *spool.Batch) []string {
	var out []string
	for _, r := range b.Rows {
		var v struct{ ID string }
		_ = json.Unmarshal(r.Data, &v)
		out = append(out, v.ID)
	}
	return out
}

func TestDestinationsKeepRowsUntilEveryDestinationIsDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openDests(t, path, qA, spool.PowerBI, es)
	pbi, ev := s.Destination(spool.PowerBI), s.Destination(es)
	if err := s.Append(context.Background(), spool.Write{Queue: qA, Rows: rows("r", 10),
		Positions: []string{"f:1", "f:2", "f:3", "f:4", "f:5", "f:6", "f:7", "f:8", "f:9", "f:10"}}); err != nil {
		t.Fatal(err)
	}
	// The Eventstream side takes everything and acks; Power BI is "down" (nothing taken).
	b, err := ev.Take(qA, 100, 0)
	if err != nil || len(b.Rows) != 10 {
		t.Fatalf("take = %v, %v", b, err)
	}
	if b.Rows[2].Position != "f:3" {
		t.Errorf("position %q, want f:3", b.Rows[2].Position)
	}
	if err := ev.Ack(b); err != nil {
		t.Fatal(err)
	}
	if got := ev.Backlog(qA).Rows; got != 0 {
		t.Errorf("eventstream backlog %d, want 0", got)
	}
	if got := pbi.Backlog(qA).Rows; got != 10 {
		t.Errorf("power bi backlog %d, want 10 (rows kept for it)", got)
	}
	if got := s.Stats().Bytes; got == 0 {
		t.Error("rows left the spool before Power BI had them")
	}
	// Restart: each destination resumes at its own cursor.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDests(t, path, qA, spool.PowerBI, es)
	pbi, ev = s.Destination(spool.PowerBI), s.Destination(es)
	if got := ev.Backlog(qA).Rows; got != 0 {
		t.Errorf("after restart eventstream backlog %d, want 0", got)
	}
	if got := ev.Delivered(qA); got != 10 {
		t.Errorf("eventstream delivered %d, want 10", got)
	}
	// Power BI takes 4 then 6 and acks out of order.
	b1, _ := pbi.Take(qA, 4, 0)
	b2, _ := pbi.Take(qA, 100, 0)
	if len(b1.Rows) != 4 || len(b2.Rows) != 6 {
		t.Fatalf("took %d and %d", len(b1.Rows), len(b2.Rows))
	}
	if err := pbi.Ack(b2); err != nil {
		t.Fatal(err)
	}
	if got := s.Delivered(qA); got != 6 {
		t.Errorf("Spool.Delivered = %d, want Power BI's 6", got)
	}
	if err := pbi.Reject(b1, "400 bad row"); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Bytes != 0 || st.Queues[qA].Rows != 0 {
		t.Errorf("spool still holds %d bytes, %d rows after both destinations finished", st.Bytes, st.Queues[qA].Rows)
	}
	dls, err := s.DeadLetters(0)
	if err != nil || len(dls) != 4 || dls[0].Destination != spool.PowerBI || dls[0].Position != "f:1" {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
	// Replaying a Power BI dead letter sends it to Power BI only.
	if n, err := s.Replay([]uint64{dls[0].ID}); err != nil || n != 1 {
		t.Fatalf("replay = %d, %v", n, err)
	}
	if pbi.Backlog(qA).Rows != 1 || ev.Backlog(qA).Rows != 0 {
		t.Errorf("after replay: power bi %d, eventstream %d; want 1, 0", pbi.Backlog(qA).Rows, ev.Backlog(qA).Rows)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	_ = s.Close()
}

func TestDestinationOnlyEventstreamAndBackToPlain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openDests(t, path, qA, spool.PowerBI, es)
	mustAppend(t, s, qA, rows("a", 5))
	pbi := s.Destination(spool.PowerBI)
	b, _ := pbi.Take(qA, 3, 0)
	if err := pbi.Ack(b); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	// Migration done: the table goes to Power BI alone again. The 3 rows Power BI had are
	// not sent twice; the 2 others are still there.
	s = openDests(t, path, qA, spool.PowerBI)
	if got := s.Backlog(qA).Rows; got != 2 {
		t.Errorf("plain backlog %d, want 2", got)
	}
	if got := s.Destination(spool.PowerBI).Backlog(qA).Rows; got != 2 {
		t.Errorf("power bi view backlog %d, want 2", got)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	_ = s.Close()
	// Eventstream only: everything in the spool is ready for it.
	s = openDests(t, path, qA, es)
	ev := s.Destination(es)
	if got := ev.Backlog(qA).Rows; got != 2 {
		t.Errorf("eventstream backlog %d, want 2", got)
	}
	if b, _ := s.Destination(spool.PowerBI).Take(qA, 10, 0); b != nil {
		t.Errorf("power bi took %d rows of an eventstream-only table", len(b.Rows))
	}
	b, _ = ev.Take(qA, 10, 0)
	if err := ev.Ack(b); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Bytes != 0 {
		t.Errorf("bytes %d after the only destination acked", st.Bytes)
	}
	if err := ev.Ack(b); !errors.Is(err, spool.ErrNotInFlight) {
		t.Errorf("second ack = %v, want ErrNotInFlight", err)
	}
	_ = s.Close()
}

// TestDestinationsRandomized drives two destinations with random takes, acks, nacks, rejects
// and restarts against a model: every row reaches each destination (acked or dead-lettered)
// at least once, more than once only when it was in flight at a restart, and the file is
// empty at the end.
func TestDestinationsRandomized(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	path := filepath.Join(t.TempDir(), "s.db")
	names := []string{spool.PowerBI, es}
	s := openDests(t, path, qA, names...)
	got := map[string]map[string]int{spool.PowerBI: {}, es: {}}
	allowed := map[string]map[string]int{spool.PowerBI: {}, es: {}} // in flight at a restart
	held := map[string][]*spool.Batch{}
	appended := 0
	for step := 0; step < 3000; step++ {
		d := names[rng.IntN(2)]
		v := s.Destination(d)
		switch op := rng.IntN(10); {
		case op < 2:
			n := 1 + rng.IntN(20)
			data := make([][]byte, n)
			for i := range data {
				data[i] = fmt.Appendf(nil, `{"id":"r%d"}`, appended)
				appended++
			}
			mustAppend(t, s, qA, data)
		case op < 5:
			b, err := v.Take(qA, 1+rng.IntN(15), 0)
			if err != nil {
				t.Fatal(err)
			}
			if b != nil {
				held[d] = append(held[d], b)
			}
		case op < 9 && len(held[d]) > 0:
			i := rng.IntN(len(held[d]))
			b := held[d][i]
			held[d] = append(held[d][:i], held[d][i+1:]...)
			var err error
			switch rng.IntN(4) {
			case 0:
				err = v.Nack(b)
			case 1:
				err = v.Reject(b, "bad")
				for _, id := range rowIDs(b) {
					got[d][id]++
				}
			default:
				err = v.Ack(b)
				for _, id := range rowIDs(b) {
					got[d][id]++
				}
			}
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		case op == 9 && rng.IntN(10) == 0:
			for dn, bs := range held {
				for _, b := range bs {
					for _, id := range rowIDs(b) {
						allowed[dn][id]++
					}
				}
			}
			held = map[string][]*spool.Batch{}
			if err := s.Check(); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
			s = openDests(t, path, qA, names...)
		}
	}
	for _, d := range names { // drain
		v := s.Destination(d)
		for _, b := range held[d] {
			if err := v.Nack(b); err != nil {
				t.Fatal(err)
			}
		}
		for {
			b, err := v.Take(qA, 50, 0)
			if err != nil {
				t.Fatal(err)
			}
			if b == nil {
				break
			}
			if err := v.Ack(b); err != nil {
				t.Fatal(err)
			}
			for _, id := range rowIDs(b) {
				got[d][id]++
			}
		}
	}
	for _, d := range names {
		for i := 0; i < appended; i++ {
			id := fmt.Sprintf("r%d", i)
			if n := got[d][id]; n < 1 || n > 1+allowed[d][id] {
				t.Fatalf("%s got %s %d times (in flight at restarts: %d)", d, id, n, allowed[d][id])
			}
		}
	}
	if st := s.Stats(); st.Bytes != 0 || st.Queues[qA].Rows != 0 {
		t.Errorf("after draining both: %d bytes, %d rows left", st.Bytes, st.Queues[qA].Rows)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	_ = s.Close()
}

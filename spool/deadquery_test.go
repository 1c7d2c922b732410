package spool_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// deadFixture holds six dead letters, one a minute: ids 1..6, alternating qA and qB, reasons
// "schema: bad value" (odd) and "400 Rejected by Power BI" (even), plus one without a queue.
func deadFixture(t *testing.T) (*spool.Spool, *clock) {
	t.Helper()
	clk := newClock()
	s, err := spool.Open(filepath.Join(t.TempDir(), "s.db"), spool.Options{NoSync: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for i := 1; i <= 6; i++ {
		q, reason := qA, "schema: bad value"
		if i%2 == 0 {
			q, reason = qB, "400 Rejected by Power BI"
		}
		d := spool.DeadLetter{Queue: q, Data: []byte(`{"n":1}`), Reason: reason, At: clk.Now()}
		if err := s.Append(context.Background(), spool.Write{Queue: q, DeadLetters: []spool.DeadLetter{d}}); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Minute)
	}
	nq := spool.DeadLetter{Data: []byte("{"), Reason: "decode: invalid JSON", Position: "in.jsonl:9", At: clk.Now()}
	if err := s.Append(context.Background(), spool.Write{Queue: qA, DeadLetters: []spool.DeadLetter{nq}}); err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func deadIDs(ds []spool.DeadLetter) []uint64 {
	out := make([]uint64, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func TestFindDeadLetters(t *testing.T) {
	s, _ := deadFixture(t)
	all, _, err := s.FindDeadLetters(spool.DeadFilter{})
	if err != nil || len(all) != 7 {
		t.Fatalf("all: %d, %v", len(all), err)
	}
	id := deadIDs(all)
	t0 := all[0].At
	tests := []struct {
		name     string
		f        spool.DeadFilter
		want     []uint64
		wantMore bool
	}{
		{"table", spool.DeadFilter{Table: "refunds"}, []uint64{id[1], id[3], id[5]}, false},
		{"dataset and table", spool.DeadFilter{Dataset: "sales", Table: "orders"}, []uint64{id[0], id[2], id[4]}, false},
		{"reason substring, any case", spool.DeadFilter{Reason: "REJECTED"}, []uint64{id[1], id[3], id[5]}, false},
		{"since and until", spool.DeadFilter{Since: t0.Add(2 * time.Minute), Until: t0.Add(4 * time.Minute)}, []uint64{id[2], id[3]}, false},
		{"first page", spool.DeadFilter{Limit: 3}, id[:3], true},
		{"second page", spool.DeadFilter{Limit: 3, After: id[2]}, id[3:6], true},
		{"last page", spool.DeadFilter{Limit: 3, After: id[5]}, id[6:], false},
		{"exact page end", spool.DeadFilter{Limit: 7}, id, false},
		{"ids", spool.DeadFilter{IDs: []uint64{id[4], id[0]}}, []uint64{id[0], id[4]}, false},
		{"nothing", spool.DeadFilter{Reason: "no such reason"}, []uint64{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, more, err := s.FindDeadLetters(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if g := deadIDs(got); !slices.Equal(g, tc.want) || more != tc.wantMore {
				t.Errorf("got %v more=%v, want %v more=%v", g, more, tc.want, tc.wantMore)
			}
		})
	}
}

func TestReplayAndPurgeDeadLetters(t *testing.T) {
	tests := []struct {
		name             string
		replay, purge    *spool.DeadFilter
		wantN            int
		wantErr          bool
		wantDead, wantQA int // dead letters left, rows ready in qA
	}{
		{name: "replay by table", replay: &spool.DeadFilter{Table: "orders"}, wantN: 3, wantDead: 4, wantQA: 3},
		{name: "replay by reason skips the queueless one", replay: &spool.DeadFilter{Reason: "schema"}, wantN: 3, wantDead: 4, wantQA: 3},
		{name: "replay all skips the queueless one", replay: &spool.DeadFilter{}, wantN: 6, wantDead: 1, wantQA: 3},
		{name: "replay an unknown id", replay: &spool.DeadFilter{IDs: []uint64{99}}, wantErr: true, wantDead: 7},
		{name: "purge by reason", purge: &spool.DeadFilter{Reason: "power bi"}, wantN: 3, wantDead: 4},
		{name: "purge everything", purge: &spool.DeadFilter{}, wantN: 7, wantDead: 0},
		{name: "purge an unknown id changes nothing", purge: &spool.DeadFilter{IDs: []uint64{1, 99}}, wantErr: true, wantDead: 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := deadFixture(t)
			var n int
			var err error
			if tc.replay != nil {
				n, err = s.ReplayDeadLetters(*tc.replay)
			} else {
				n, err = s.PurgeDeadLetters(*tc.purge)
			}
			if (err != nil) != tc.wantErr || n != tc.wantN {
				t.Fatalf("n=%d err=%v, want %d (error %v)", n, err, tc.wantN, tc.wantErr)
			}
			st := s.Stats()
			if st.DeadLetters != tc.wantDead || st.Queues[qA].Rows != tc.wantQA {
				t.Errorf("dead %d, qA %d; want %d, %d", st.DeadLetters, st.Queues[qA].Rows, tc.wantDead, tc.wantQA)
			}
			if left, _, _ := s.FindDeadLetters(spool.DeadFilter{}); len(left) != tc.wantDead {
				t.Errorf("%d dead letters in the file, Stats says %d", len(left), tc.wantDead)
			}
			if err := s.Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

func TestReplayByIDWithoutQueueFails(t *testing.T) {
	s, _ := deadFixture(t)
	all, _, _ := s.FindDeadLetters(spool.DeadFilter{Reason: "decode"})
	if _, err := s.ReplayDeadLetters(spool.DeadFilter{IDs: deadIDs(all)}); err == nil {
		t.Fatal("replaying a dead letter without a queue succeeded")
	}
}

func TestInFlightPerQueue(t *testing.T) {
	s, _ := deadFixture(t)
	mustAppend(t, s, qA, rows("a", 5))
	b := mustTake(t, s, qA, 3, 1<<20)
	if got := s.InFlight(qA); got != 3 {
		t.Errorf("in flight %d, want 3", got)
	}
	if err := s.Ack(b); err != nil {
		t.Fatal(err)
	}
	if got, gotB := s.InFlight(qA), s.InFlight(qB); got != 0 || gotB != 0 {
		t.Errorf("in flight after ack %d/%d, want 0", got, gotB)
	}
}

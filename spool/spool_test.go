package spool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
	"github.com/pbi-pusher/pbi-pusher/spool/spooltest"
)

func TestTakeLimits(t *testing.T) {
	data := rows("r", 5) // each row is 12 bytes: {"id":"r-0"}
	tests := []struct {
		name              string
		maxRows, maxBytes int
		want              [][]byte
	}{
		{"rows limit", 2, 0, data[:2]},
		{"bytes limit", 0, 30, data[:2]},
		{"one row even if larger than maxBytes", 10, 5, data[:1]},
		{"no limits", 0, 0, data},
		{"more than available", 100, 1 << 20, data},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := spooltest.New(t, spool.Options{})
			mustAppend(t, h.S, qA, data)
			b := mustTake(t, h.S, qA, tc.maxRows, tc.maxBytes)
			if got := ids(b); !slices.Equal(got, strs(tc.want)) {
				t.Fatalf("took %q, want %q", got, strs(tc.want))
			}
			if want := len(data) - len(tc.want); h.S.Backlog(qA).Rows != want {
				t.Fatalf("backlog %d rows, want %d", h.S.Backlog(qA).Rows, want)
			}
		})
	}
}

func TestTakeEmptyQueue(t *testing.T) {
	h := spooltest.New(t, spool.Options{})
	if b := mustTake(t, h.S, qA, 10, 0); b != nil {
		t.Fatalf("take on unknown queue = %v, want nil", b)
	}
	mustAppend(t, h.S, qA, rows("r", 1))
	mustTake(t, h.S, qA, 10, 0)
	if b := mustTake(t, h.S, qA, 10, 0); b != nil {
		t.Fatalf("take with everything in flight = %q, want nil", ids(b))
	}
}

// TestAnswers drives the batcher's patterns: several batches in flight, answered in any order,
// sub-batches from Split; then checks what is ready, in which order, and what was counted.
func TestAnswers(t *testing.T) {
	data := rows("r", 6)
	tests := []struct {
		name      string
		answer    func(t *testing.T, s *spool.Spool, b1, b2 *spool.Batch)
		ready     [][]byte // what Take returns afterwards, in order
		delivered int64
		dead      int
	}{
		{"ack both", func(t *testing.T, s *spool.Spool, b1, b2 *spool.Batch) {
			must(t, s.Ack(b2))
			must(t, s.Ack(b1))
		}, data[4:], 4, 0},
		{"nack first goes back ahead of newer rows", func(t *testing.T, s *spool.Spool, b1, b2 *spool.Batch) {
			must(t, s.Nack(b1))
			must(t, s.Ack(b2))
		}, slices.Concat(data[:2], data[4:]), 2, 0},
		{"nack second while first in flight", func(t *testing.T, s *spool.Spool, b1, b2 *spool.Batch) {
			must(t, s.Nack(b2))
		}, data[2:], 0, 0},
		{"bisect: ack one half, reject the other", func(t *testing.T, s *spool.Spool, b1, b2 *spool.Batch) {
			good, bad := b1.Split()
			must(t, s.Ack(good))
			must(t, s.Reject(bad, "400 bad"))
			must(t, s.Nack(b2))
		}, data[2:], 1, 1},
		{"reject whole batch", func(t *testing.T, s *spool.Spool, b1, b2 *spool.Batch) {
			must(t, s.Reject(b1, "400 bad"))
			must(t, s.Nack(b2))
		}, data[2:], 0, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := spooltest.New(t, spool.Options{})
			mustAppend(t, h.S, qA, data)
			b1 := mustTake(t, h.S, qA, 2, 0)
			b2 := mustTake(t, h.S, qA, 2, 0)
			tc.answer(t, h.S, b1, b2)
			if got := h.S.Delivered(qA); got != tc.delivered {
				t.Errorf("delivered %d, want %d", got, tc.delivered)
			}
			if got := h.S.Stats().DeadLetters; got != tc.dead {
				t.Errorf("dead letters %d, want %d", got, tc.dead)
			}
			h.MustCheck()
			if got := ids(mustTake(t, h.S, qA, 100, 0)); !slices.Equal(got, strs(tc.ready)) {
				t.Fatalf("ready afterwards %q, want %q", got, strs(tc.ready))
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAnswerNotInFlight(t *testing.T) {
	h := spooltest.New(t, spool.Options{})
	mustAppend(t, h.S, qA, rows("r", 2))
	b := mustTake(t, h.S, qA, 2, 0)
	must(t, h.S.Ack(b))
	ops := map[string]func(*spool.Batch) error{
		"ack":    h.S.Ack,
		"nack":   h.S.Nack,
		"reject": func(b *spool.Batch) error { return h.S.Reject(b, "x") },
	}
	for name, op := range ops {
		if err := op(b); !errors.Is(err, spool.ErrNotInFlight) {
			t.Errorf("%s twice: err %v, want ErrNotInFlight", name, err)
		}
	}
	if got := h.S.Delivered(qA); got != 2 {
		t.Fatalf("delivered %d after a refused double ack, want 2", got)
	}
}

func TestBacklogOldestUsesClock(t *testing.T) {
	clk := newClock()
	h := spooltest.New(t, spool.Options{Now: clk.Now})
	t0 := clk.Now()
	mustAppend(t, h.S, qA, rows("a", 2))
	clk.Add(time.Minute)
	mustAppend(t, h.S, qA, rows("b", 1))
	if got := h.S.Backlog(qA); got.Rows != 3 || !got.Oldest.Equal(t0) || got.Bytes != 36 {
		t.Fatalf("backlog %+v, want 3 rows, 36 bytes, oldest %v", got, t0)
	}
	b := mustTake(t, h.S, qA, 2, 0)
	if got := h.S.Backlog(qA).Oldest; !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("oldest after take %v, want %v", got, t0.Add(time.Minute))
	}
	must(t, h.S.Nack(b))
	if got := h.S.Backlog(qA).Oldest; !got.Equal(t0) {
		t.Fatalf("oldest after nack %v, want %v", got, t0)
	}
	h.Reopen()
	if got := h.S.Backlog(qA); got.Rows != 3 || !got.Oldest.Equal(t0) {
		t.Fatalf("backlog after reopen %+v, want 3 rows, oldest %v", got, t0)
	}
}

func TestCrashRequeuesInFlight(t *testing.T) {
	h := spooltest.New(t, spool.Options{})
	mustAppend(t, h.S, qA, rows("r", 5))
	mustTake(t, h.S, qA, 2, 0)
	mustTake(t, h.S, qA, 1, 0)
	s := h.Reopen()
	st := s.Stats()
	if st.Requeued != 3 || st.InFlight != 0 || st.Queues[qA].Rows != 5 {
		t.Fatalf("after reopen: requeued %d, in flight %d, ready %d; want 3, 0, 5", st.Requeued, st.InFlight, st.Queues[qA].Rows)
	}
	if got, want := ids(mustTake(t, s, qA, 10, 0)), strs(rows("r", 5)); !slices.Equal(got, want) {
		t.Fatalf("order after reopen %q, want %q", got, want)
	}
}

func TestWriteIsOneTransaction(t *testing.T) {
	h := spooltest.New(t, spool.Options{})
	w := spool.Write{
		Queue:       qA,
		Rows:        rows("r", 2),
		DeadLetters: []spool.DeadLetter{{Queue: qA, Data: []byte("not json"), Position: "in.json:3", Reason: "decode"}},
		Checkpoints: map[string][]byte{"file/in.json": []byte("123")},
	}
	must(t, h.S.Append(context.Background(), w))
	s := h.Reopen()
	cp, err := s.Meta("file/in.json")
	must(t, err)
	dls, err := s.DeadLetters(0)
	must(t, err)
	if string(cp) != "123" || len(dls) != 1 || dls[0].Position != "in.json:3" || s.Backlog(qA).Rows != 2 {
		t.Fatalf("after reopen: checkpoint %q, dead letters %+v, backlog %+v", cp, dls, s.Backlog(qA))
	}
}

func TestAppendValidation(t *testing.T) {
	h := spooltest.New(t, spool.Options{})
	bad := []spool.Write{
		{Queue: spool.QueueKey{Dataset: "d"}, Rows: rows("r", 1)},
		{Queue: spool.QueueKey{Dataset: "d\x00x", Table: "t"}, Rows: rows("r", 1)},
		{Checkpoints: map[string][]byte{"": nil}},
	}
	for i, w := range bad {
		if err := h.S.Append(context.Background(), w); err == nil {
			t.Errorf("write %d: accepted %+v", i, w)
		}
	}
}

func TestDeliveredPersists(t *testing.T) {
	h := spooltest.New(t, spool.Options{})
	mustAppend(t, h.S, qA, rows("r", 3))
	must(t, h.S.Ack(mustTake(t, h.S, qA, 3, 0)))
	if got := h.Reopen().Delivered(qA); got != 3 {
		t.Fatalf("delivered after reopen %d, want 3", got)
	}
}

func TestNotify(t *testing.T) {
	h := spooltest.New(t, spool.Options{})
	select {
	case <-h.S.Notify():
		t.Fatal("notified before any append")
	default:
	}
	mustAppend(t, h.S, qA, rows("r", 1))
	<-h.S.Notify() // a missing signal hangs here until the test timeout
	b := mustTake(t, h.S, qA, 1, 0)
	must(t, h.S.Ack(b))
	select {
	case <-h.S.Notify():
		t.Fatal("ack notified")
	default:
	}
	mustAppend(t, h.S, qA, rows("r", 1))
	must(t, h.S.Nack(mustTake(t, h.S, qA, 1, 0)))
	<-h.S.Notify()
}

func TestMeta(t *testing.T) {
	h := spooltest.New(t, spool.Options{})
	if v, err := h.S.Meta("dataset/sales"); v != nil || err != nil {
		t.Fatalf("absent key: %q, %v", v, err)
	}
	must(t, h.S.SetMeta("dataset/sales", []byte("id-1")))
	if v, _ := h.Reopen().Meta("dataset/sales"); string(v) != "id-1" {
		t.Fatalf("after reopen %q", v)
	}
	must(t, h.S.SetMeta("dataset/sales", nil))
	if v, _ := h.S.Meta("dataset/sales"); v != nil {
		t.Fatalf("after delete %q", v)
	}
}

func TestReplay(t *testing.T) {
	h := spooltest.New(t, spool.Options{})
	mustAppend(t, h.S, qA, rows("r", 3))
	must(t, h.S.Reject(mustTake(t, h.S, qA, 2, 0), "400: column x"))
	must(t, h.S.Append(context.Background(), spool.Write{DeadLetters: []spool.DeadLetter{{Data: []byte("garbage"), Reason: "decode"}}}))
	dls, err := h.S.DeadLetters(0)
	must(t, err)
	if len(dls) != 3 || dls[0].Reason != "400: column x" || dls[0].Queue != qA {
		t.Fatalf("dead letters %+v", dls)
	}
	if _, err := h.S.Replay([]uint64{dls[2].ID}); err == nil {
		t.Fatal("replayed a dead letter without a queue")
	}
	if _, err := h.S.Replay([]uint64{999}); err == nil {
		t.Fatal("replayed an unknown id")
	}
	n, err := h.S.Replay([]uint64{dls[1].ID, dls[1].ID})
	if err != nil || n != 1 {
		t.Fatalf("replay one: %d, %v", n, err)
	}
	n, err = h.S.Replay(nil)
	if err != nil || n != 1 {
		t.Fatalf("replay all: %d, %v (the queue-less one must stay)", n, err)
	}
	want := []string{`{"id":"r-2"}`, `{"id":"r-1"}`, `{"id":"r-0"}`}
	if got := ids(mustTake(t, h.S, qA, 10, 0)); !slices.Equal(got, want) {
		t.Fatalf("queue after replay %q, want %q", got, want)
	}
	if got := h.S.Stats().DeadLetters; got != 1 {
		t.Fatalf("dead letters left %d, want 1", got)
	}
}

func TestStatsListsAllQueues(t *testing.T) {
	h := spooltest.New(t, spool.Options{})
	mustAppend(t, h.S, qA, rows("a", 1))
	mustAppend(t, h.S, qB, rows("b", 2))
	must(t, h.S.Ack(mustTake(t, h.S, qA, 1, 0)))
	st := h.Reopen().Stats()
	if len(st.Queues) != 2 || st.Queues[qA].Rows != 0 || st.Queues[qB].Rows != 2 || st.FileBytes == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClosed(t *testing.T) {
	h := spooltest.New(t, spool.Options{})
	must(t, h.S.Close())
	must(t, h.S.Close())
	if err := h.S.Append(context.Background(), spool.Write{Queue: qA, Rows: rows("r", 1)}); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := h.S.Take(qA, 1, 0); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("take after close: %v", err)
	}
}

// TestBadWriteDoesNotFailOthers: a Write bbolt refuses (checkpoint key over bbolt's 32 KiB key
// limit) fails alone even when group commit put it in a transaction with others, and its
// reserved bytes are given back.
func TestBadWriteDoesNotFailOthers(t *testing.T) {
	const writers = 20
	good, after := make([][]byte, writers-1), rows("after", 2)
	room := int64(len(after[0]) + len(after[1]))
	for i := range good {
		good[i] = fmt.Appendf(nil, `{"i":%d}`, i)
		room += int64(len(good[i]))
	}
	h := spooltest.New(t, spool.Options{MaxBytes: room}) // exactly the good rows + after
	errs := make(chan error, writers)
	bad := spool.Write{Queue: qB, Rows: rows("bad", 1), Checkpoints: map[string][]byte{strings.Repeat("k", 40000): []byte("1")}}
	go func() { errs <- h.S.Append(context.Background(), bad) }()
	for _, row := range good {
		go func() { errs <- h.S.Append(context.Background(), spool.Write{Queue: qA, Rows: [][]byte{row}}) }()
	}
	failed := 0
	for range writers {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if failed != 1 || h.S.Backlog(qA).Rows != writers-1 || h.S.Backlog(qB).Rows != 0 {
		t.Fatalf("%d failed, backlog A %d, B %d; want 1, %d, 0", failed, h.S.Backlog(qA).Rows, h.S.Backlog(qB).Rows, writers-1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// after fits exactly, unless the failed write's reservation leaked.
	must(t, h.S.Append(ctx, spool.Write{Queue: qA, Rows: after}))
}

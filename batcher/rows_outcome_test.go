package batcher

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// partialDest answers each send with one outcome per row: the row "bad" is refused, the row
// "slow" fails once (sent again), every other row is delivered.
type partialDest struct {
	mu       sync.Mutex
	got      map[string]int
	slowSeen bool
}

var errPartial = errors.New("partly delivered")

func (d *partialDest) Limits() Limits { return Limits{} }

func (d *partialDest) Send(_ context.Context, _ spool.QueueKey, rows []spool.Row) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range rows {
		d.got[string(r.Data)]++
	}
	return errPartial
}

func (d *partialDest) Classify(err error) Outcome {
	if err == nil {
		return Outcome{Class: OK}
	}
	return Outcome{Class: Retryable, Message: "classified per row"}
}

// rowsOutcome is partialDest's per-row classification, given the rows of the send.
func (d *partialDest) rowsOutcome(rows []spool.Row) Outcome {
	d.mu.Lock()
	defer d.mu.Unlock()
	o := Outcome{Class: Retryable}
	for _, r := range rows {
		switch string(r.Data) {
		case `"bad"`:
			o.Rows = append(o.Rows, Outcome{Class: Rejected, Message: "broker: message too large"})
		case `"slow"`:
			if d.slowSeen {
				o.Rows = append(o.Rows, Outcome{Class: OK})
			} else {
				d.slowSeen = true
				o.Rows = append(o.Rows, Outcome{Class: Retryable, Message: "timeout"})
			}
		default:
			o.Rows = append(o.Rows, Outcome{Class: OK})
		}
	}
	return o
}

// rowsDest wires rowsOutcome in: Send returns the rows' outcome as its error value.
type rowsDest struct{ *partialDest }

type rowsErr struct{ o Outcome }

func (rowsErr) Error() string { return "per-row answer" }

func (d rowsDest) Send(ctx context.Context, q spool.QueueKey, rows []spool.Row) error {
	_ = d.partialDest.Send(ctx, q, rows)
	return rowsErr{d.rowsOutcome(rows)}
}

func (d rowsDest) Classify(err error) Outcome {
	var re rowsErr
	if errors.As(err, &re) {
		return re.o
	}
	return d.partialDest.Classify(err)
}

// A send whose rows have outcomes of their own: delivered rows are acked once, the refused row is
// dead-lettered at once with the destination's message (no bisecting), the failed row is sent
// again; only this destination's cursor moves.
func TestDispatcherSettlesEachRowsOwnOutcome(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "s.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	q := spool.QueueKey{Dataset: "ds", Table: "a"}
	if err := sp.SetDestinations(q, []string{spool.PowerBI, "es"}); err != nil {
		t.Fatal(err)
	}
	rows := [][]byte{[]byte(`"r1"`), []byte(`"bad"`), []byte(`"slow"`), []byte(`"r4"`)}
	if err := sp.Append(context.Background(), spool.Write{Queue: q, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	dest := rowsDest{&partialDest{got: map[string]int{}}}
	view := sp.Destination("es")
	d := NewDispatcher(Options{Dataset: config.Dataset{Name: "es"}, Queues: []spool.QueueKey{q}, Queue: view,
		Destination: dest, Linger: 10 * time.Millisecond, Jitter: func(time.Duration) time.Duration { return 10 * time.Millisecond }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for view.Delivered(q) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	dest.mu.Lock()
	got := dest.got
	dest.mu.Unlock()
	if view.Delivered(q) != 3 || got[`"r1"`] != 1 || got[`"r4"`] != 1 || got[`"bad"`] != 1 || got[`"slow"`] != 2 {
		t.Errorf("delivered %d, sends per row %v; want 3 delivered, r1/r4/bad once, slow twice", view.Delivered(q), got)
	}
	dls, err := sp.DeadLetters(0)
	if err != nil || len(dls) != 1 || dls[0].Destination != "es" || dls[0].Reason != "broker: message too large" {
		t.Errorf("dead letters %+v (%v)", dls, err)
	}
	if b := sp.Destination(spool.PowerBI).Backlog(q); b.Rows != 4 {
		t.Errorf("Power BI backlog %d, want all 4 rows (its cursor did not move)", b.Rows)
	}
}

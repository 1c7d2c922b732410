package spool_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
	"github.com/pbi-pusher/pbi-pusher/spool/spooltest"
)

var seedFlag = flag.Uint64("seed", 0, "seed for TestModel (0 = time-based)")

// modelRow is a row as the model sees it.
type modelRow struct {
	data     string
	inflight bool
}

// model is the in-memory reference: per queue, rows in FIFO order.
type model struct {
	queues    map[spool.QueueKey][]*modelRow
	dead      []spool.QueueKey // queue of each dead letter, in id order
	deadData  []string
	delivered map[spool.QueueKey]int64
	batches   []*spool.Batch // live handles from the real spool
}

// sim runs random operations against the spool and the model.
type sim struct {
	t   *testing.T
	h   *spooltest.Harness
	rnd *rand.Rand
	m   model
	n   int // row counter for unique data
	log []string
}

func TestModel(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with: go test ./spool -run TestModel -seed %d)", seed, seed)
	sm := &sim{t: t, h: spooltest.New(t, spool.Options{NoSync: true}), rnd: rand.New(rand.NewPCG(seed, seed^0x5eed)),
		m: model{queues: map[spool.QueueKey][]*modelRow{}, delivered: map[spool.QueueKey]int64{}}}
	defer func() {
		if t.Failed() {
			t.Logf("seed %d; last ops:\n%s", seed, strings.Join(sm.log[max(0, len(sm.log)-20):], "\n"))
		}
	}()
	ops := []struct {
		weight int
		fn     func()
	}{{30, sm.append}, {25, sm.take}, {12, sm.ack}, {8, sm.nack}, {4, sm.reject}, {6, sm.split}, {2, sm.replay}, {2, sm.crash}}
	total := 0
	for _, op := range ops {
		total += op.weight
	}
	for i := 0; i < 3000 && !t.Failed(); i++ {
		r := sm.rnd.IntN(total)
		for _, op := range ops {
			if r -= op.weight; r < 0 {
				op.fn()
				break
			}
		}
		sm.compare()
		if i%100 == 0 {
			sm.h.MustCheck()
		}
	}
	sm.drain()
}

var modelQueues = []spool.QueueKey{qA, qB, {Dataset: "ops", Table: "events"}}

func (sm *sim) queue() spool.QueueKey { return modelQueues[sm.rnd.IntN(len(modelQueues))] }

func (sm *sim) logf(format string, args ...any) {
	sm.log = append(sm.log, fmt.Sprintf(format, args...))
}

func (sm *sim) append() {
	q, n := sm.queue(), 1+sm.rnd.IntN(5)
	data := make([][]byte, n)
	for i := range data {
		sm.n++
		data[i] = fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, sm.n, strings.Repeat("x", sm.rnd.IntN(40)))
		sm.m.queues[q] = append(sm.m.queues[q], &modelRow{data: string(data[i])})
	}
	sm.logf("append %s %d rows", q, n)
	mustAppend(sm.t, sm.h.S, q, data)
}

func (sm *sim) take() {
	q, maxRows, maxBytes := sm.queue(), sm.rnd.IntN(7), 0
	if sm.rnd.IntN(2) == 0 {
		maxBytes = 20 + sm.rnd.IntN(200)
	}
	sm.logf("take %s rows<=%d bytes<=%d", q, maxRows, maxBytes)
	want := sm.m.expectTake(q, maxRows, maxBytes)
	b := mustTake(sm.t, sm.h.S, q, maxRows, maxBytes)
	got := ids(b)
	if !slices.Equal(got, rowData(want)) {
		sm.t.Fatalf("take %s rows<=%d bytes<=%d: got %q, model %q", q, maxRows, maxBytes, got, rowData(want))
	}
	for _, r := range want {
		r.inflight = true
	}
	if b != nil {
		sm.m.batches = append(sm.m.batches, b)
	}
}

// expectTake applies Take's rules to the model: oldest ready rows, row and byte limits, at
// least one row.
func (m *model) expectTake(q spool.QueueKey, maxRows, maxBytes int) []*modelRow {
	var out []*modelRow
	size := 0
	for _, r := range m.queues[q] {
		if r.inflight {
			continue
		}
		if (maxRows > 0 && len(out) >= maxRows) || (maxBytes > 0 && len(out) > 0 && size+len(r.data) > maxBytes) {
			break
		}
		out = append(out, r)
		size += len(r.data)
	}
	return out
}

func rowData(rs []*modelRow) []string {
	if len(rs) == 0 {
		return nil
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.data
	}
	return out
}

// pick removes and returns a random in-flight batch (nil if none).
func (sm *sim) pick() *spool.Batch {
	if len(sm.m.batches) == 0 {
		return nil
	}
	i := sm.rnd.IntN(len(sm.m.batches))
	b := sm.m.batches[i]
	sm.m.batches = slices.Delete(sm.m.batches, i, i+1)
	return b
}

func (sm *sim) split() {
	b := sm.pick()
	if b == nil || len(b.Rows) < 2 {
		if b != nil {
			sm.m.batches = append(sm.m.batches, b)
		}
		return
	}
	x, y := b.Split()
	sm.logf("split %d rows into %d+%d", len(b.Rows), len(x.Rows), len(y.Rows))
	sm.m.batches = append(sm.m.batches, x, y)
}

func (sm *sim) ack() {
	if b := sm.pick(); b != nil {
		sm.logf("ack %s %q", b.Queue, ids(b))
		must(sm.t, sm.h.S.Ack(b))
		sm.m.remove(b)
		sm.m.delivered[b.Queue] += int64(len(b.Rows))
	}
}

func (sm *sim) nack() {
	if b := sm.pick(); b != nil {
		sm.logf("nack %s %q", b.Queue, ids(b))
		must(sm.t, sm.h.S.Nack(b))
		for _, r := range sm.m.find(b) {
			r.inflight = false
		}
	}
}

func (sm *sim) reject() {
	if b := sm.pick(); b != nil {
		sm.logf("reject %s %q", b.Queue, ids(b))
		must(sm.t, sm.h.S.Reject(b, "model reject"))
		for _, r := range sm.m.find(b) {
			sm.m.dead, sm.m.deadData = append(sm.m.dead, b.Queue), append(sm.m.deadData, r.data)
		}
		sm.m.remove(b)
	}
}

func (sm *sim) replay() {
	sm.logf("replay all (%d)", len(sm.m.dead))
	n, err := sm.h.S.Replay(nil)
	must(sm.t, err)
	if n != len(sm.m.dead) {
		sm.t.Fatalf("replayed %d, model %d", n, len(sm.m.dead))
	}
	for i, q := range sm.m.dead {
		sm.m.queues[q] = append(sm.m.queues[q], &modelRow{data: sm.m.deadData[i]})
	}
	sm.m.dead, sm.m.deadData = nil, nil
}

// crash restarts the spool: everything in flight comes back ready, in place.
func (sm *sim) crash() {
	sm.logf("reopen with %d batches in flight", len(sm.m.batches))
	sm.h.Reopen()
	sm.m.batches = nil
	for _, rs := range sm.m.queues {
		for _, r := range rs {
			r.inflight = false
		}
	}
}

// find returns the model rows of b, which must all be in flight.
func (m *model) find(b *spool.Batch) []*modelRow {
	want := map[string]bool{}
	for _, d := range ids(b) {
		want[d] = true
	}
	var out []*modelRow
	for _, r := range m.queues[b.Queue] {
		if want[r.data] && r.inflight {
			out = append(out, r)
		}
	}
	return out
}

func (m *model) remove(b *spool.Batch) {
	gone := map[*modelRow]bool{}
	for _, r := range m.find(b) {
		gone[r] = true
	}
	m.queues[b.Queue] = slices.DeleteFunc(m.queues[b.Queue], func(r *modelRow) bool { return gone[r] })
}

// compare checks the spool's counters against the model after every operation.
func (sm *sim) compare() {
	st := sm.h.S.Stats()
	inflight := 0
	for _, q := range modelQueues {
		rows, bytes := 0, int64(0)
		for _, r := range sm.m.queues[q] {
			if r.inflight {
				inflight++
				continue
			}
			rows++
			bytes += int64(len(r.data))
		}
		if got := sm.h.S.Backlog(q); got.Rows != rows || got.Bytes != bytes {
			sm.t.Fatalf("backlog %s: %d rows %d bytes, model %d rows %d bytes", q, got.Rows, got.Bytes, rows, bytes)
		}
		if got := sm.h.S.Delivered(q); got != sm.m.delivered[q] {
			sm.t.Fatalf("delivered %s: %d, model %d", q, got, sm.m.delivered[q])
		}
	}
	if st.InFlight != inflight || st.DeadLetters != len(sm.m.dead) {
		sm.t.Fatalf("in flight %d dead %d, model %d, %d", st.InFlight, st.DeadLetters, inflight, len(sm.m.dead))
	}
}

// drain answers everything and takes every queue empty, comparing order with the model.
func (sm *sim) drain() {
	for len(sm.m.batches) > 0 {
		sm.nack()
	}
	for _, q := range modelQueues {
		want := rowData(sm.m.expectTake(q, 0, 0))
		if got := ids(mustTake(sm.t, sm.h.S, q, 0, 0)); !slices.Equal(got, want) {
			sm.t.Fatalf("drain %s: got %q, model %q", q, got, want)
		}
	}
}

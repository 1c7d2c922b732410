package batcher

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/internal/progress"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// bulkQueue is a Queue holding millions of rows as counts (a backlog of identical rows): Take
// hands out batches of small rows, Ack counts them delivered on top of the rows the table held
// before, and done closes once every row was acknowledged.
type bulkQueue struct {
	mu        sync.Mutex
	ready     map[string]int
	at        time.Time
	delivered map[string]int64
	acked     int64
	want      int64
	done      chan struct{}
	target    int64     // rows of table a that mean it drained
	aDone     time.Time // when table a's last row was acknowledged
	notify    chan struct{}
	seq       uint64
}

var bulkRow = []byte(`{"v":1}`)

func newBulkQueue(want int64, held map[string]int64) *bulkQueue {
	q := &bulkQueue{ready: map[string]int{}, delivered: map[string]int64{}, want: want,
		done: make(chan struct{}), notify: make(chan struct{}, 1)}
	for t, n := range held {
		q.delivered[t] = n
	}
	return q
}

func (q *bulkQueue) add(table string, n int) {
	q.mu.Lock()
	q.ready[table] += n
	q.at = time.Now()
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *bulkQueue) Backlog(k spool.QueueKey) spool.Backlog {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := spool.Backlog{Rows: q.ready[k.Table]}
	if b.Rows > 0 {
		b.Oldest = q.at
	}
	return b
}

func (q *bulkQueue) Take(k spool.QueueKey, maxRows, _ int) (*spool.Batch, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(maxRows, q.ready[k.Table])
	if n == 0 {
		return nil, nil
	}
	q.ready[k.Table] -= n
	b := &spool.Batch{Queue: k, Rows: make([]spool.Row, n)}
	for i := range b.Rows {
		q.seq++
		b.Rows[i] = spool.Row{Seq: q.seq, Data: bulkRow}
	}
	b.Bytes = n * len(bulkRow)
	return b, nil
}

func (q *bulkQueue) Ack(b *spool.Batch) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.delivered[b.Queue.Table] += int64(len(b.Rows))
	q.acked += int64(len(b.Rows))
	if b.Queue.Table == "a" && q.delivered["a"] == q.target {
		q.aDone = time.Now()
	}
	if q.acked == q.want {
		close(q.done)
	}
	return nil
}

func (q *bulkQueue) Nack(b *spool.Batch) error {
	q.mu.Lock()
	q.ready[b.Queue.Table] += len(b.Rows)
	q.mu.Unlock()
	return nil
}

func (q *bulkQueue) Reject(*spool.Batch, string) error { return nil }

func (q *bulkQueue) Delivered(k spool.QueueKey) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.delivered[k.Table]
}

func (q *bulkQueue) Notify() <-chan struct{} { return q.notify }

// latencySender answers every POST OK after a fixed latency (virtual time inside synctest).
// latencySender answers every send OK after latency, with the limits given.
type latencySender struct {
	latency time.Duration
	limits  Limits
}

func (s latencySender) Limits() Limits { return s.limits }

func (latencySender) Classify(err error) Outcome { return testClassify(err) }

func (s latencySender) Send(ctx context.Context, _ spool.QueueKey, _ []spool.Row) error {
	select {
	case <-time.After(s.latency):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drainCase is a backlog into a table of a dataset, possibly beside another table's backlog.
type drainCase struct {
	limits    config.Limits
	retention string
	rows      int
	held      int64 // rows the table holds before
	other     int   // rows of a second table of the dataset sharing the limits
}

// simulateDrain runs the real Dispatcher (goroutines, timers, scheduler) on synctest's virtual
// clock until every row was acknowledged, and returns how long the target table "a" took, and the
// forecast made from the dispatcher's own state at start.
func simulateDrain(t *testing.T, c drainCase, latency time.Duration, probe func(d *Dispatcher, q *bulkQueue)) (time.Duration, Forecast) {
	var took time.Duration
	var fc Forecast
	synctest.Test(t, func(t *testing.T) {
		q := newBulkQueue(int64(c.rows+c.other), map[string]int64{"a": c.held})
		q.target = c.held + int64(c.rows)
		d := NewDispatcher(Options{
			Dataset: config.Dataset{Name: "ds", Retention: c.retention, Limits: c.limits,
				Tables: []config.Table{{Name: "a"}, {Name: "b"}}},
			Linger: time.Second, Queue: q,
			Destination: latencySender{latency: latency, limits: Limits{Rates: c.limits, Retention: c.retention}},
		})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- d.Run(ctx) }()
		synctest.Wait()
		// The forecast starts from the dispatcher's view of the table before the rows arrive
		// (the held rows), plus the backlog about to be spooled.
		in := d.ForecastInput()
		in.Latency, in.Target = latency, "a"
		in.Tables = []ForecastTable{{Name: "a", Backlog: int64(c.rows), Held: c.held}, {Name: "b", Backlog: int64(c.other)}}
		fc = ForecastDrain(in)
		start := time.Now()
		if c.other > 0 {
			q.add("b", c.other)
		}
		q.add("a", c.rows)
		if probe != nil {
			probe(d, q)
		}
		<-q.done
		q.mu.Lock()
		took = q.aDone.Sub(start)
		q.mu.Unlock()
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return took, fc
}

// TestForecastAgreesWithTheDispatcher (issue 14, acceptance 2): the plan's model and the real
// scheduler draining on a virtual clock agree within 5% for 10k, 300k and 3M rows into
// retention None and basicFIFO tables, with and without rows already in the table.
func TestForecastAgreesWithTheDispatcher(t *testing.T) {
	const latency = 200 * time.Millisecond
	var cases []drainCase
	for _, rows := range []int{10_000, 300_000, 3_000_000} {
		for _, ret := range []string{"None", "basicFIFO"} {
			for _, held := range []int64{0, 200_000, 1_000_000} {
				cases = append(cases, drainCase{retention: ret, rows: rows, held: held})
			}
		}
	}
	cases = append(cases,
		// 1k-row POSTs: past 250,000 rows the large tier's 120 POSTs/hour binds.
		drainCase{limits: config.Limits{RowsPerPost: 1000}, retention: "None", rows: 300_000},
		drainCase{limits: config.Limits{RowsPerPost: 1000}, retention: "None", rows: 400_000, held: 100_000},
		// Another table of the dataset shares the limits.
		drainCase{retention: "None", rows: 1_500_000, other: 1_500_000},
		drainCase{retention: "basicFIFO", rows: 300_000, other: 2_000_000},
	)
	for _, c := range cases {
		name := fmt.Sprintf("%s %d rows held %d other %d rows/POST %d", c.retention, c.rows, c.held, c.other, WithDefaults(c.limits).RowsPerPost)
		t.Run(name, func(t *testing.T) {
			if testing.Short() && c.rows+c.other > 1_000_000 {
				t.Skip("long virtual drain")
			}
			took, fc := simulateDrain(t, c, latency, nil)
			diff := float64(fc.Duration-took) / float64(took)
			t.Logf("simulated %v, forecast %v (%+.1f%%), %d POSTs, binding %q, large tier after %d rows",
				took, fc.Duration, diff*100, fc.Posts, fc.Binding, fc.LargeTierAfter)
			if diff > 0.05 || diff < -0.05 {
				t.Errorf("forecast %v and simulated drain %v differ by %.1f%%", fc.Duration, took, diff*100)
			}
		})
	}
}

// TestProgressNamesTheBindingLimit: past the switch to the large tier, the forecast made from the
// running dispatcher's state names the hourly POST limit, and the progress line shows it.
func TestProgressNamesTheBindingLimit(t *testing.T) {
	c := drainCase{limits: config.Limits{RowsPerPost: 1000}, retention: "None", rows: 300_000}
	var line string
	var fc Forecast
	simulateDrain(t, c, 200*time.Millisecond, func(d *Dispatcher, q *bulkQueue) {
		// Right past the switch (the table holds 250,000 rows after ~2 minutes at 120 POSTs of
		// 1,000 rows a minute), the rest waits for the rolling hour of the large tier.
		for q.Delivered(spool.QueueKey{Dataset: "ds", Table: "a"}) < 250_000 {
			time.Sleep(time.Second)
		}
		fc = ForecastDrain(d.ForecastInput())
		var buf strings.Builder
		disp := progress.New(&buf, true, 300_000, nil)
		left := q.Backlog(spool.QueueKey{Dataset: "ds", Table: "a"}).Rows
		disp.Update(progress.Snapshot{Read: 300_000, Spooled: 300_000, Delivered: 250_000, Backlog: left,
			Elapsed: time.Minute, ETA: fc.Duration, ETAKnown: true, Binding: fc.BindingNow})
		line = buf.String()
	})
	want := "table ≥ 250,000 rows: 120 POSTs/hour"
	t.Logf("progress line: %q; forecast %+v", line, fc)
	if fc.BindingNow != want || fc.Binding != want || !strings.Contains(line, want) || fc.Duration < 55*time.Minute {
		t.Errorf("binding now %q, over the drain %q, progress %q; want %q", fc.BindingNow, fc.Binding, line, want)
	}
}

// TestForecastModelsEveryInput: each input of the model moves the forecast the way the scheduler
// would: 429s (multiplier, pause), the live reserve, POSTs already in the windows, rows already in
// the table, other tables sharing the dataset.
func TestForecastModelsEveryInput(t *testing.T) {
	base := ForecastInput{Retention: "basicFIFO", Target: "a", Latency: 200 * time.Millisecond,
		Tables: []ForecastTable{{Name: "a", Backlog: 3_000_000}}}
	recent := make([]RecentPost, 100) // a full hour's rows sent just now
	for i := range recent {
		recent[i] = RecentPost{SentAgo: time.Second, DoneAgo: time.Second, Rows: 10_000}
	}
	tests := []struct {
		name        string
		mod         func(in *ForecastInput)
		min, max    time.Duration
		binding     string
		bindingNow  string
		largeTierAt int64
	}{
		{name: "3M rows basicFIFO: three hourly bursts", mod: func(*ForecastInput) {},
			min: 2 * time.Hour, max: 2*time.Hour + time.Minute, binding: "1,000,000 rows/hour", largeTierAt: -1},
		{name: "a 429 halved the rates: spread evenly at 500,000 rows/hour", mod: func(in *ForecastInput) { in.Multiplier = 0.5 },
			min: 5*time.Hour + 50*time.Minute, max: 6 * time.Hour, binding: "500,000 rows/hour (after 429s: rates × 0.50)", largeTierAt: -1},
		{name: "Retry-After pause", mod: func(in *ForecastInput) {
			in.Tables[0].Backlog = 10_000
			in.Paused = 30 * time.Second
		}, min: 30 * time.Second, max: 31 * time.Second, binding: BindPaused, bindingNow: BindPaused, largeTierAt: -1},
		{name: "the live reserve leaves a tenth", mod: func(in *ForecastInput) { in.Reserve = 0.1 },
			min: 3*time.Hour - time.Minute, max: 3*time.Hour + 5*time.Minute, binding: "900,000 rows/hour", largeTierAt: -1},
		{name: "the hour's rows were just sent", mod: func(in *ForecastInput) {
			in.Tables[0].Backlog = 10_000
			in.Recent = recent
		}, min: time.Hour - 2*time.Second, max: time.Hour, binding: "1,000,000 rows/hour", bindingNow: "1,000,000 rows/hour", largeTierAt: -1},
		{name: "rows already in a None table: large tier from the start", mod: func(in *ForecastInput) {
			in.Retention, in.Limits = "None", config.Limits{RowsPerPost: 1000}
			in.Tables[0] = ForecastTable{Name: "a", Backlog: 240_000, Held: 300_000}
		}, min: time.Hour, max: time.Hour + time.Minute, binding: "table ≥ 250,000 rows: 120 POSTs/hour", largeTierAt: 0},
		{name: "another table takes half the budget", mod: func(in *ForecastInput) {
			in.Tables = append(in.Tables, ForecastTable{Name: "b", Backlog: 3_000_000})
		}, min: 5 * time.Hour, max: 5*time.Hour + 2*time.Minute, binding: "1,000,000 rows/hour", largeTierAt: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			in.Tables = append([]ForecastTable(nil), base.Tables...)
			tc.mod(&in)
			f := ForecastDrain(in)
			t.Logf("%+v", f)
			if f.Duration < tc.min || f.Duration > tc.max || f.Binding != tc.binding || f.LargeTierAfter != tc.largeTierAt ||
				(tc.bindingNow != "" && f.BindingNow != tc.bindingNow) {
				t.Errorf("forecast %v binding %q now %q tier %d; want %v..%v, %q, %q, %d",
					f.Duration, f.Binding, f.BindingNow, f.LargeTierAfter, tc.min, tc.max, tc.binding, tc.bindingNow, tc.largeTierAt)
			}
		})
	}
}

// TestForecastIsCheapForLongDrains: a drain of tiny POSTs (10M rows of 10) is extrapolated past
// maxForecastSteps instead of replayed POST by POST, and stays close to the exact bound.
func TestForecastIsCheapForLongDrains(t *testing.T) {
	in := ForecastInput{Retention: "basicFIFO", Limits: config.Limits{RowsPerPost: 10}, Target: "a",
		Tables: []ForecastTable{{Name: "a", Backlog: 10_000_000}}}
	start := time.Now()
	f := ForecastDrain(in)
	took := time.Since(start)
	// 120 POSTs of 10 rows a minute: 72,000 rows an hour, so about 138.9 hours.
	want := time.Duration(10_000_000.0 / 72_000.0 * float64(time.Hour))
	diff := float64(f.Duration-want) / float64(want)
	t.Logf("forecast %v (want ~%v, %+.2f%%), %d POSTs, binding %q, computed in %v", f.Duration, want, diff*100, f.Posts, f.Binding, took)
	if diff > 0.02 || diff < -0.02 || f.Posts != 1_000_000 || f.Binding != "120 POSTs/minute" {
		t.Errorf("forecast %+v", f)
	}
}

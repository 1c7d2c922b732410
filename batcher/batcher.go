// Package batcher shapes spooled rows into POSTs per dataset: as large and as frequent as the
// Power BI limits allow, never more, and adapting to the service's throttling.
//
// A Scheduler holds the decisions as a pure function of the times passed in (limits, pacing,
// fairness, batch size, backoff, AIMD); a Dispatcher is the goroutine shell that feeds it the
// spool's backlog, takes batches, posts them and settles them (Ack, Nack, bisect, dead-letter).
package batcher

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Queue is what the dispatcher needs from the spool.
type Queue interface {
	Backlog(q spool.QueueKey) spool.Backlog
	Take(q spool.QueueKey, maxRows, maxBytes int) (*spool.Batch, error)
	Ack(b *spool.Batch) error
	Nack(b *spool.Batch) error
	Reject(b *spool.Batch, reason string) error
	Delivered(q spool.QueueKey) int64
	Notify() <-chan struct{}
}

// Destination is where a dispatcher delivers rows, as the dispatcher knows it: its limits, its
// send and its classification of what a send returned. The Power BI dataset (package sink) and
// an Eventstream (package eventstream) implement it; batcher imports neither.
type Destination interface {
	// Limits returns the destination's limits.
	Limits() Limits
	// Send delivers rows (oldest first, at least one) of queue q. It does not retry: the
	// dispatcher does. rows[0].Seq is stable across resends of the same rows.
	Send(ctx context.Context, q spool.QueueKey, rows []spool.Row) error
	// Classify classifies what Send returned (nil = OK), once, at the destination boundary.
	Classify(err error) Outcome
}

// Limits are a destination's limits.
type Limits struct {
	// Rates are the rolling-window limits (rows per send, sends per minute, rows per hour,
	// pending sends, the large tier); zero fields take the Power BI defaults.
	Rates config.Limits
	// Retention is "basicFIFO" or None (anything else): the large tier applies to None only.
	Retention string
	// MaxBytes bounds the row data of one send; 0 = DefaultMaxBytes.
	MaxBytes int
}

// DefaultMaxBytes bounds the row data of one POST (Power BI accepts 16 MB per request).
const DefaultMaxBytes = 15 << 20

// Options configure a Dispatcher for one destination.
type Options struct {
	// Dataset names the dispatcher (logs, the PostLog) and its tables. Its Limits and Retention
	// are not used: the Destination's Limits are.
	Dataset config.Dataset
	// Queues, if set, are the table queues to deliver instead of Dataset's tables (a destination
	// fed by tables of several datasets); the scheduler names them DATASET/TABLE.
	Queues      []spool.QueueKey
	Linger      time.Duration
	Queue       Queue
	Destination Destination
	Logger      *slog.Logger
	// Clock is injected for virtual-time tests; nil = real time.
	Clock Clock
	// PostLog, if set, durably records every POST before it is sent and, at Run, replays the
	// last hour into the rolling windows, so a restarted process never exceeds the limits with
	// what its predecessor sent (the spool implements it).
	PostLog PostLog
	// Abort ends in-flight POSTs when done (shutdown_timeout passed); their rows are Nacked.
	Abort context.Context

	// Poll is the longest the dispatcher sleeps without re-reading the backlog, in case a spool
	// notification went to another dataset's dispatcher; 0 = Linger.
	Poll time.Duration
	// Jitter maps a backoff step to the wait used; nil = uniform in [d/2, d].
	Jitter func(time.Duration) time.Duration
	// LiveReserve is the share of the limits a draining backlog leaves to live rows
	// (SchedulerConfig.LiveReserve): batch.live_reserve for `run`, 0 for backfill.
	LiveReserve float64
	// Serial keeps one POST per table in flight (SchedulerConfig.Serial).
	Serial bool
	// Budget, shared by the dispatchers of a process, bounds the bytes of POSTs in flight
	// (batch.max_inflight_bytes); nil = no bound.
	Budget *Budget
	// ShareSources is how many Kafka sources feed the dataset (SetAssignment; share.go);
	// 0 = this instance holds the dataset's whole budget.
	ShareSources int
	// SlotPeriod and SlotGuard time the pending slots shared between instances; 0 = defaults.
	SlotPeriod, SlotGuard time.Duration
	// ShareStore, if set, persists each Kafka source's assignment (the spool implements it), so
	// that after a restart the partitions this spool's previous process held in the previous
	// generation need not wait (share.go).
	ShareStore ShareStore
	// AwaitServiceRows holds the first POST of a retention-None dataset until read-back has
	// answered for every table (or this long passed); 0 = read-back is off.
	AwaitServiceRows time.Duration
}

// ShareStore keeps small values across restarts (spool metadata).
type ShareStore interface {
	Meta(key string) ([]byte, error)
	SetMeta(key string, val []byte) error
}

// PostLog persists the POSTs a dataset sent in the last hour.
type PostLog interface {
	RecordPost(dataset string, at time.Time, rows int) error
	RecentPosts(dataset string, since time.Time) ([]spool.PostRecord, error)
}

// Clock is the dispatcher's time source.
type Clock interface {
	Now() time.Time
	// After is like time.After on this clock.
	After(d time.Duration) <-chan time.Time
}

// realClock is the wall clock (virtual inside testing/synctest).
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Dispatcher drives one dataset's scheduler.
type Dispatcher struct {
	o        Options
	log      *slog.Logger
	clock    Clock
	maxBytes int
	keys     map[string]spool.QueueKey
	wake     chan struct{} // SetLimits/SetShare: decide again

	mu    sync.Mutex // guards sched
	sched *Scheduler
}

// NewDispatcher returns a dispatcher.
func NewDispatcher(o Options) *Dispatcher {
	d := &Dispatcher{o: o, log: o.Logger, clock: o.Clock,
		keys: map[string]spool.QueueKey{}, wake: make(chan struct{}, 1)}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.clock == nil {
		d.clock = realClock{}
	}
	if d.o.Abort == nil {
		d.o.Abort = context.Background()
	}
	var lim Limits // no Destination (a dispatcher that never runs): the Power BI defaults
	if o.Destination != nil {
		lim = o.Destination.Limits()
	}
	d.maxBytes = lim.MaxBytes
	if d.maxBytes <= 0 {
		d.maxBytes = DefaultMaxBytes
	}
	if d.o.Linger <= 0 {
		d.o.Linger = time.Second
	}
	if d.o.Poll <= 0 {
		d.o.Poll = d.o.Linger
	}
	tables := make([]string, 0, len(o.Dataset.Tables))
	for _, t := range o.Dataset.Tables {
		tables = append(tables, t.Name)
		d.keys[t.Name] = spool.QueueKey{Dataset: o.Dataset.Name, Table: t.Name}
	}
	if o.Queues != nil {
		tables, d.keys = tables[:0], map[string]spool.QueueKey{}
		for _, q := range o.Queues {
			tables = append(tables, q.String())
			d.keys[q.String()] = q
		}
	}
	d.sched = NewScheduler(d.clock.Now(), SchedulerConfig{Limits: lim.Rates,
		Retention: lim.Retention, Tables: tables, Linger: d.o.Linger, Jitter: o.Jitter,
		LiveReserve: o.LiveReserve, Serial: o.Serial,
		ShareSources: o.ShareSources, SlotPeriod: o.SlotPeriod, SlotGuard: o.SlotGuard,
		AwaitServiceRows: o.AwaitServiceRows})
	return d
}

// SetLimits replaces the limits (SIGHUP reload) without losing rows.
func (d *Dispatcher) SetLimits(l config.Limits) {
	d.mu.Lock()
	d.sched.SetLimits(d.clock.Now(), l)
	d.mu.Unlock()
	d.poke()
}

// SetShare makes this instance hold a settled fraction of every limit, in [0,1].
func (d *Dispatcher) SetShare(share float64) {
	d.mu.Lock()
	d.sched.SetShare(d.clock.Now(), share)
	d.mu.Unlock()
	d.poke()
}

// SetAssignment records the partitions Kafka source src's group assigned to this instance: its
// part of the dataset's limits (share.go).
func (d *Dispatcher) SetAssignment(src ShareSource, a Assignment) {
	d.mu.Lock()
	var prev *sourceHold
	if d.sched.hold.sources[src.Index] == nil {
		prev = d.loadShare(src)
		d.loadPosts(prev)
	}
	if n := d.sched.assign(d.clock.Now(), src, a, prev); n > 0 {
		rows, posts, _ := d.sched.tokens(d.clock.Now())
		d.log.Info("hourly buckets of the partitions kept across the restart restored from the spool's POSTs",
			"partitions", n, "rows", int64(rows), "posts", int64(posts))
	}
	d.saveShare(src)
	d.mu.Unlock()
	d.poke()
}

func (d *Dispatcher) shareKey(src ShareSource) string {
	return fmt.Sprintf("share/%s/%d/%d", d.o.Dataset.Name, src.Index, src.Count)
}

// loadShare reads what this spool's previous process held of src (nil if nothing or unreadable).
func (d *Dispatcher) loadShare(src ShareSource) *sourceHold {
	if d.o.ShareStore == nil {
		return nil
	}
	b, err := d.o.ShareStore.Meta(d.shareKey(src))
	var sv savedHold
	if err != nil || len(b) == 0 || json.Unmarshal(b, &sv) != nil {
		return nil
	}
	return sv.hold()
}

// loadPosts reads this spool's POSTs since an hour and a minute ago into prev, from which the
// buckets of the cells it keeps are rebuilt (hourly.go, restore); unreadable, they start empty.
func (d *Dispatcher) loadPosts(prev *sourceHold) {
	if prev == nil || d.o.PostLog == nil {
		return
	}
	posts, err := d.o.PostLog.RecentPosts(d.o.Dataset.Name, d.clock.Now().Add(-hour-minute))
	if err != nil {
		d.log.Warn("read the POSTs of the last hour; kept partitions' hourly buckets start empty", "err", err)
		return
	}
	prev.posts, prev.logged = posts, true
}

// saveShare persists src's holding; a failure costs only a minute's wait after a restart.
func (d *Dispatcher) saveShare(src ShareSource) {
	sh := d.sched.hold.sources[src.Index]
	if d.o.ShareStore == nil || sh == nil {
		return
	}
	b, _ := json.Marshal(sh.save())
	if err := d.o.ShareStore.SetMeta(d.shareKey(src), b); err != nil {
		d.log.Debug("persist the Kafka assignment", "err", err)
	}
}

// Revoke records that source src's group generation ended (a rebalance started).
func (d *Dispatcher) Revoke(src ShareSource) {
	d.mu.Lock()
	d.sched.Revoke(d.clock.Now(), src)
	d.mu.Unlock()
	d.poke()
}

// SetServiceRows records the rows the service holds in table (read-back; known false: the
// service cannot be asked, the local estimate decides the large tier).
func (d *Dispatcher) SetServiceRows(table string, rows int64, known bool) {
	d.mu.Lock()
	now := d.clock.Now()
	before := slices.Contains(d.sched.Usage(now).FullTables, table)
	d.sched.SetServiceRows(now, table, rows, known)
	after := slices.Contains(d.sched.Usage(now).FullTables, table)
	d.mu.Unlock()
	switch {
	case after && !before:
		d.log.Warn("table full at the service: its rows wait in the spool", "table", table,
			"service_rows", rows, "max_rows", MaxTableRows)
	case before && !after:
		d.log.Info("table no longer full at the service: posting again", "table", table, "service_rows", rows)
	}
	d.poke()
}

// Usage returns the dataset's budget now (rows left this hour, POSTs this minute, in flight).
func (d *Dispatcher) Usage() Usage {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sched.Usage(d.clock.Now())
}

// Stats returns the dataset's counters (POSTs by outcome, throttles, retry waits).
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sched.Stats()
}

func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

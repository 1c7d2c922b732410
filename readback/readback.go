// Package readback asks the service how many rows each configured table holds (sink.CountRows,
// executeQueries), at start and then at a modest interval, and hands the counts to the datasets'
// dispatchers (the 250,000-row switch is decided from them) and to /status and the metrics.
//
// When the service refuses to answer (the tenant setting "Dataset Execute Queries REST API" off,
// 401/403, an unknown dataset) read-back is off for the dataset: logged once at WARN, the
// dispatcher falls back to its local estimate (own rows ÷ share), and it is tried again every
// RetryUnavailable; the first count after that is logged once at INFO. A throttled or failed
// query keeps the last count while it is younger than three intervals.
package readback

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/sink"
)

// Counter asks the service (sink.Client).
type Counter interface {
	CountRows(ctx context.Context, dataset, table string) (int64, error)
}

// Target receives a table's count (batcher.Dispatcher); known false: no count is available.
type Target interface {
	SetServiceRows(table string, rows int64, known bool)
}

// Defaults.
const (
	DefaultInterval = 30 * time.Second
	// RetryUnavailable is how often a dataset whose read-back was refused is tried again.
	RetryUnavailable = 10 * time.Minute
	// maxQueriesPerMinute keeps this instance at half the service's 120 query requests per minute
	// per user, leaving room for the verify command and other instances.
	maxQueriesPerMinute = 60
)

// Options configure a Reader.
type Options struct {
	Datasets []config.Dataset
	Counter  Counter
	// Target returns a dataset's dispatcher, or nil while it does not run.
	Target   func(dataset string) Target
	Interval time.Duration // 0 = DefaultInterval; raised so that every table fits maxQueriesPerMinute
	Logger   *slog.Logger
}

// Count is the last answer for one table.
type Count struct {
	Dataset, Table string
	Rows           int64
	At             time.Time // when it was read; zero = never
	Known          bool      // Rows is fresh enough to decide on
}

// Reader runs the read-back loop.
type Reader struct {
	o        Options
	log      *slog.Logger
	interval time.Duration

	mu     sync.Mutex
	counts map[[2]string]*Count
	down   map[string]time.Time // dataset → read-back refused since (retried after RetryUnavailable)
	// handed: the count (or its refusal) reached the dataset's dispatcher. A dispatcher starts only
	// once its dataset resolves, often after the first round: Run hands it the stored count then,
	// without a new query, so a retention-None dataset's first POST does not wait a whole interval.
	handed map[[2]string]bool
}

// New returns a Reader.
func New(o Options) *Reader {
	r := &Reader{o: o, log: o.Logger, interval: o.Interval, counts: map[[2]string]*Count{}, down: map[string]time.Time{},
		handed: map[[2]string]bool{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.interval <= 0 {
		r.interval = DefaultInterval
	}
	tables := 0
	for _, ds := range o.Datasets {
		for _, t := range ds.Tables {
			tables++
			r.counts[[2]string{ds.Name, t.Name}] = &Count{Dataset: ds.Name, Table: t.Name}
		}
	}
	r.interval = max(r.interval, time.Duration(tables)*time.Minute/maxQueriesPerMinute)
	return r
}

// Interval returns the pause between two rounds.
func (r *Reader) Interval() time.Duration { return r.interval }

// Run reads every table now and then every interval until ctx is done.
//
// Between rounds it hands stored counts to dispatchers that started since (every handOff), and
// while some table has never been counted because the service did not answer (not a refusal), the
// next round comes sooner: 2 s, doubling up to the interval.
func (r *Reader) Run(ctx context.Context) {
	const handOff = 250 * time.Millisecond
	retry := 2 * time.Second
	for {
		r.Round(ctx)
		next := r.interval
		if r.uncounted() {
			next = min(retry, r.interval)
			retry = min(2*retry, r.interval)
		} else {
			retry = 2 * time.Second
		}
		deadline := time.Now().Add(next)
		for time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(min(handOff, time.Until(deadline))):
			}
			r.handOver()
		}
	}
}

// uncounted reports whether a table of a dataset whose read-back is not refused has no count yet.
func (r *Reader) uncounted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, c := range r.counts {
		if _, down := r.down[k[0]]; !down && c.At.IsZero() {
			return true
		}
	}
	return false
}

// handOver gives every stored count that has not reached its dispatcher to the dispatcher, once it
// runs.
func (r *Reader) handOver() {
	if r.o.Target == nil {
		return
	}
	type item struct {
		k     [2]string
		rows  int64
		known bool
	}
	var todo []item
	r.mu.Lock()
	for k, c := range r.counts {
		_, down := r.down[k[0]]
		if !r.handed[k] && (!c.At.IsZero() || down) {
			todo = append(todo, item{k, c.Rows, c.Known && !down})
		}
	}
	r.mu.Unlock()
	for _, it := range todo {
		t := r.o.Target(it.k[0])
		if t == nil {
			continue
		}
		t.SetServiceRows(it.k[1], it.rows, it.known)
		r.mu.Lock()
		r.handed[it.k] = true
		r.mu.Unlock()
	}
}

// Round counts every table once (skipping datasets whose read-back is refused, until their
// retry time).
func (r *Reader) Round(ctx context.Context) {
	for _, ds := range r.o.Datasets {
		r.mu.Lock()
		since, down := r.down[ds.Name]
		r.mu.Unlock()
		if down && time.Since(since) < RetryUnavailable {
			continue
		}
		for _, t := range ds.Tables {
			if ctx.Err() != nil {
				return
			}
			if !r.count(ctx, ds.Name, t.Name, down) {
				break
			}
			down = false
		}
	}
}

// count reads one table; false when read-back is refused for the dataset.
func (r *Reader) count(ctx context.Context, dataset, table string, wasDown bool) bool {
	n, err := r.o.Counter.CountRows(ctx, dataset, table)
	now := time.Now()
	r.mu.Lock()
	c := r.counts[[2]string{dataset, table}]
	switch {
	case err == nil:
		c.Rows, c.At, c.Known = n, now, true
		delete(r.down, dataset)
	case ctx.Err() != nil:
		r.mu.Unlock()
		return true
	case sink.Classify(err) == sink.Fatal:
		r.down[dataset] = now
		for _, x := range r.counts {
			if x.Dataset == dataset {
				x.Known = false
			}
		}
	default: // throttled or failed: the last count stands while fresh
		c.Known = !c.At.IsZero() && now.Sub(c.At) < 3*r.interval
	}
	known, rows := c.Known, c.Rows
	r.mu.Unlock()
	switch {
	case err == nil && wasDown:
		r.log.Info("read-back available again: the large tier is decided from the service's count", "dataset", dataset)
	case err != nil && sink.Classify(err) == sink.Fatal && !wasDown:
		r.log.Warn("read-back unavailable: the large tier is decided from the local estimate (own rows ÷ share)",
			"dataset", dataset, "retry_in", RetryUnavailable, "err", err)
	case err != nil && sink.Classify(err) != sink.Fatal:
		r.log.Debug("read-back failed; will retry", "dataset", dataset, "table", table, "err", err)
	}
	refused := err != nil && sink.Classify(err) == sink.Fatal
	if r.o.Target != nil {
		if t := r.o.Target(dataset); t != nil {
			if !refused {
				t.SetServiceRows(table, rows, known)
				r.mu.Lock()
				r.handed[[2]string{dataset, table}] = true
				r.mu.Unlock()
			}
			for _, ds := range r.o.Datasets {
				for _, tb := range ds.Tables {
					if refused && ds.Name == dataset {
						t.SetServiceRows(tb.Name, 0, false)
						r.mu.Lock()
						r.handed[[2]string{dataset, tb.Name}] = true
						r.mu.Unlock()
					}
				}
			}
		}
	}
	return !refused
}

// Get returns the last count of dataset/table.
func (r *Reader) Get(dataset, table string) (Count, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.counts[[2]string{dataset, table}]
	if !ok {
		return Count{}, false
	}
	return *c, true
}

// Package pipeline wires pbi-pusher's stages for one configuration: it compiles the schema, opens
// the spool, and runs one supervisor per dataset that resolves the dataset (signing in) in the
// background and then runs its dispatcher, parking it on a permanent answer. The commands in
// cmd/pbi-pusher drive it; it owns no signals and never exits the process.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/pbi-pusher/pbi-pusher/auth"
	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/eventstream"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/schema"
	"github.com/pbi-pusher/pbi-pusher/sink"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Options are code-only settings for Open.
type Options struct {
	Logger     *slog.Logger
	HTTPClient *http.Client // nil = built from config (CA bundle, proxy, timeouts)
	Tokens     auth.Source  // nil = auth.New(cfg)
	Prompt     io.Writer    // where interactive auth (device code) prints; nil = stderr
	// WrapQueue, if set, wraps the spool as each dispatcher's queue (metrics count outcomes).
	WrapQueue func(batcher.Queue) batcher.Queue
}

// Pipeline holds the opened, wired components of one configuration.
type Pipeline struct {
	cfg    *config.Config
	log    *slog.Logger
	Spool  *spool.Spool
	Sink   *sink.Client
	tables map[spool.QueueKey]*schema.Table
	// eventstreams are the eventstreams entries some table is delivered to, by name.
	eventstreams map[string]*eventstream.Destination

	wrapQueue func(batcher.Queue) batcher.Queue

	tokens *swapTokens
	health map[string]*health // by dataset, from Open on
	revive map[string]chan struct{}

	mu          sync.Mutex
	dispatchers map[string]*batcher.Dispatcher
}

// Open compiles the tables, opens the spool and builds the sink client. It does not contact the
// service: Start resolves the datasets and signs in in the background, so input is accepted and
// spooled while Power BI or Entra ID is unreachable.
func Open(ctx context.Context, cfg *config.Config, o Options) (*Pipeline, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tables, err := compileTables(cfg)
	if err != nil {
		return nil, err
	}
	sp, err := spool.Open(cfg.Spool.Path, spool.Options{
		NoSync:   cfg.Spool.NoSync,
		MaxBytes: int64(cfg.Spool.MaxBytes),
		WhenFull: cfg.Spool.WhenFull,
		Logger:   log.With("component", "spool"),

		ReserveBytes: int64(cfg.Spool.ReserveBytes), MaxDeadBytes: int64(cfg.Spool.DeadLetterMaxBytes),
		Remap: remapper(tables), // replay (also through the admin API) maps with this config
	})
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", cfg.Spool.Path, err)
	}
	p := &Pipeline{cfg: cfg, log: log, Spool: sp, tables: tables, wrapQueue: o.WrapQueue,
		dispatchers: map[string]*batcher.Dispatcher{}, health: map[string]*health{}, revive: map[string]chan struct{}{}}
	for _, ds := range cfg.Datasets {
		p.health[ds.Name] = newHealth(ds.Name, log.With("component", "sink"), p.waitingRows(ds))
		p.revive[ds.Name] = make(chan struct{}, 1)
	}
	for _, e := range cfg.Eventstreams {
		p.revive[EventstreamPrefix+e.Name] = make(chan struct{}, 1)
	}
	if err := p.registerDestinations(); err != nil {
		_ = sp.Close()
		return nil, err
	}
	if err := p.openEventstreams(ctx, o); err != nil {
		_ = p.closeEventstreams()
		_ = sp.Close()
		return nil, err
	}
	if !cfg.UsesPowerBI() {
		return p, nil // every table goes to eventstreams: no Power BI credentials needed
	}
	if err := p.openSink(o); err != nil {
		_ = p.closeEventstreams()
		_ = sp.Close()
		return nil, err
	}
	return p, nil
}

func compileTables(cfg *config.Config) (map[spool.QueueKey]*schema.Table, error) {
	tables := map[spool.QueueKey]*schema.Table{}
	var errs []error
	for _, ds := range cfg.Datasets {
		for _, t := range ds.Tables {
			ct, err := schema.Compile(t)
			if err != nil {
				errs = append(errs, fmt.Errorf("dataset %s table %s: %w", ds.Name, t.Name, err))
				continue
			}
			tables[spool.QueueKey{Dataset: ds.Name, Table: t.Name}] = ct
		}
	}
	return tables, errors.Join(errs...)
}

func (p *Pipeline) openSink(o Options) error {
	hc := o.HTTPClient
	if hc == nil {
		var err error
		if hc, err = auth.HTTPClient(p.cfg); err != nil {
			return fmt.Errorf("http client: %w", err)
		}
	}
	tokens := o.Tokens
	if tokens == nil {
		var err error
		tokens, err = auth.New(p.cfg, auth.Options{HTTPClient: hc, Logger: p.log.With("component", "auth"), Prompt: o.Prompt})
		if err != nil {
			return fmt.Errorf("auth %s: %w", p.cfg.Auth.Method, err)
		}
	}
	p.tokens = &swapTokens{cur: tokens}
	pcfg, _ := powerBIConfig(p.cfg) // the datasets and tables delivered to Power BI
	sk, err := sink.New(sink.Options{Config: pcfg, Tokens: p.tokens, Store: p.Spool, HTTPClient: hc, Logger: p.log.With("component", "sink")})
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	p.Sink = sk
	return nil
}

// Writer returns the ingest writer for "DATASET/TABLE".
func (p *Pipeline) Writer(ref string) (*ingest.Writer, error) {
	ds, t, err := p.cfg.FindTable(ref)
	if err != nil {
		return nil, err
	}
	q := spool.QueueKey{Dataset: ds.Name, Table: t.Name}
	// Rows for an eventstream keep their source position (a message header).
	positions := slices.ContainsFunc(t.DestinationNames(), func(d string) bool { return d != config.DestinationPowerBI })
	return &ingest.Writer{Queue: q, Table: p.tables[q], Spool: p.Spool, Positions: positions}, nil
}

// Config returns the configuration the pipeline was opened with.
func (p *Pipeline) Config() *config.Config { return p.cfg }

// Start starts one supervisor per destination. A Power BI dataset's resolves the dataset
// (signing in) with capped, jittered backoff, then runs its dispatcher, which posts until ctx is
// done and lets in-flight POSTs finish until abort is done; an eventstreams entry's runs its
// dispatcher (see startEventstreams). A permanent answer (no permission, not a push dataset)
// parks the dataset: its rows stay spooled, the others keep flowing, and Revive tries again.
// onPermanent (optional, must not block) learns of every permanent failure: a parked dataset,
// or credentials refused for good. The returned wait blocks until every supervisor returned.
func (p *Pipeline) Start(ctx, abort context.Context, onPermanent func(dataset string, err error)) (wait func()) {
	reserve := config.DefaultLiveReserve
	if r := p.cfg.Batch.LiveReserve; r != nil {
		reserve = *r
	}
	return p.start(ctx, abort, reserve, onPermanent)
}

// start is Start with the share of the limits a backlog leaves to live rows (0 for a backfill).
func (p *Pipeline) start(ctx, abort context.Context, reserve float64, onPermanent func(dataset string, err error)) (wait func()) {
	sender := observedSender{next: p.Sink, health: func(ds string) *health { return p.health[ds] }}
	var wg sync.WaitGroup
	budget := batcher.NewBudget(int64(p.cfg.Batch.MaxInflightBytes))
	for _, ds := range p.cfg.Datasets {
		pds := powerBITables(ds) // the tables delivered to Power BI
		if len(pds.Tables) == 0 || p.Sink == nil {
			continue
		}
		d := batcher.NewDispatcher(batcher.Options{
			Dataset:     pds,
			Linger:      time.Duration(p.cfg.Batch.Linger),
			Queue:       p.queue(spool.PowerBI),
			Destination: sink.Destination{Client: sender, Dataset: pds},
			Logger:      p.log.With("component", "batcher", "dataset", ds.Name),
			Abort:       abort,
			PostLog:     p.Spool,
			// Live rows get a reserve; with sequence numbers a table's POSTs go one at a time,
			// in order.
			LiveReserve: reserve,
			Serial:      p.cfg.PowerBI.SequenceNumbers,
			Budget:      budget,
			// Several instances in a Kafka consumer group split the dataset's limits.
			ShareSources: kafkaSources(p.cfg, ds.Name),
			ShareStore:   p.Spool,
			// Read-back: the first POST waits for the service's counts (the large tier).
			AwaitServiceRows: awaitServiceRows(p.cfg),
		})
		p.mu.Lock()
		p.dispatchers[ds.Name] = d
		p.mu.Unlock()
		h := p.health[ds.Name]
		if onPermanent != nil {
			h.setOnPermanent(func(err error) { onPermanent(ds.Name, err) })
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.supervise(ctx, ds.Name, d, h)
		}()
	}
	p.startEventstreams(ctx, abort, eventstreamRun{reserve: reserve, budget: budget, onPermanent: onPermanent}, &wg)
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.monitor(ctx)
	}()
	return wg.Wait
}

// supervise prepares the dataset and runs its dispatcher until ctx is done; a permanent answer
// parks it until Revive.
func (p *Pipeline) supervise(ctx context.Context, name string, d *batcher.Dispatcher, h *health) {
	var fails int
	for ctx.Err() == nil {
		err := p.prepare(ctx, name, h)
		if err == nil {
			err = d.Run(ctx)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			return
		case sink.Classify(err) == sink.Fatal:
			h.park(err)
			select {
			case <-ctx.Done():
				return
			case <-p.revive[name]:
			}
		default: // the spool failed under the dispatcher: run it again after a pause
			p.log.Error("dataset dispatcher failed; restarting it", "dataset", name, "err", err)
			fails++
			if !sleepCtx(ctx, retryWait(fails)) {
				return
			}
		}
	}
}

// prepare resolves the dataset and brings its tables up to date, retrying what can heal with
// capped, jittered backoff; it returns nil, a permanent (Fatal) error, or ctx's error.
func (p *Pipeline) prepare(ctx context.Context, name string, h *health) error {
	for attempt := 1; ; attempt++ {
		err := p.Sink.PrepareDataset(ctx, name)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h.observe(0, err)
		if err == nil || sink.Classify(err) == sink.Fatal {
			return err
		}
		wait := retryWait(attempt)
		p.log.Debug("resolve dataset failed; retrying", "dataset", name, "in", wait, "err", err)
		if !sleepCtx(ctx, wait) {
			return ctx.Err()
		}
	}
}

// Backoff of the dataset preparation: doubling from retryBase up to retryCap, jittered.
const (
	retryBase = 500 * time.Millisecond
	retryCap  = 15 * time.Second
)

// retryWait is the jittered wait before attempt+1: uniform in [d/2, d], d = min(cap, base·2^(n-1)).
func retryWait(attempt int) time.Duration {
	d := retryCap
	if attempt < 16 {
		d = min(retryCap, retryBase<<(attempt-1))
	}
	return d/2 + rand.N(d/2+1)
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// monitor logs the datasets' aggregated error counts and outage reminders until ctx is done.
func (p *Pipeline) monitor(ctx context.Context) {
	t := time.NewTicker(healthTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, ds := range p.cfg.Datasets {
				p.health[ds.Name].tick(now)
			}
		}
	}
}

// Revive retries every parked dataset and stopped eventstream (SIGHUP); it returns how many were
// parked.
func (p *Pipeline) Revive() int {
	n := p.reviveEventstreams()
	for _, ds := range p.cfg.Datasets {
		if p.health[ds.Name].revive() {
			n++
			select {
			case p.revive[ds.Name] <- struct{}{}:
			default:
			}
		}
	}
	return n
}

// SinkHealth returns a dataset's sink state; false for an unknown dataset.
func (p *Pipeline) SinkHealth(dataset string) (SinkHealth, bool) {
	h := p.health[dataset]
	if h == nil {
		return SinkHealth{}, false
	}
	return h.Snapshot(), true
}

// waitingRows returns a function counting the rows of ds waiting in the spool.
func (p *Pipeline) waitingRows(ds config.Dataset) func() int {
	return func() int {
		n := 0
		for _, t := range ds.Tables {
			n += p.Spool.Backlog(spool.QueueKey{Dataset: ds.Name, Table: t.Name}).Rows
		}
		return n
	}
}

// SetLimits applies new limits to the running dispatchers (config reload).
func (p *Pipeline) SetLimits(datasets []config.Dataset) {
	for _, ds := range datasets {
		if d := p.Dispatcher(ds.Name); d != nil {
			d.SetLimits(ds.Limits)
		}
	}
}

// Dispatcher returns the running dispatcher of a dataset (nil before Run).
func (p *Pipeline) Dispatcher(dataset string) *batcher.Dispatcher {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dispatchers[dataset]
}

// Close closes the eventstream connections and the spool. Call it after Run returned.
func (p *Pipeline) Close() error { return errors.Join(p.closeEventstreams(), p.Spool.Close()) }

// UnknownFields returns how many input fields of q's table mapped to no column and were ignored.
func (p *Pipeline) UnknownFields(q spool.QueueKey) int64 {
	if t := p.tables[q]; t != nil {
		return t.UnknownIgnored()
	}
	return 0
}

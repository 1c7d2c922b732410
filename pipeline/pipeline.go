// Package pipeline wires pbi-pusher's stages for one configuration: it compiles the schema, opens
// the spool, authenticates, resolves datasets and runs one dispatcher per dataset. The commands
// in cmd/pbi-pusher drive it; it owns no signals and never exits the process.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pbi-pusher/pbi-pusher/auth"
	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
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

	wrapQueue func(batcher.Queue) batcher.Queue

	mu          sync.Mutex
	dispatchers map[string]*batcher.Dispatcher
}

// Open compiles the tables, opens the spool, authenticates and resolves every dataset
// (design.md "Lifecycle": spool first, then the sink; sources start later).
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
	})
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", cfg.Spool.Path, err)
	}
	p := &Pipeline{cfg: cfg, log: log, Spool: sp, tables: tables, wrapQueue: o.WrapQueue,
		dispatchers: map[string]*batcher.Dispatcher{}}
	if err := p.openSink(ctx, o); err != nil {
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

func (p *Pipeline) openSink(ctx context.Context, o Options) error {
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
	sk, err := sink.New(sink.Options{Config: p.cfg, Tokens: tokens, Store: p.Spool, HTTPClient: hc, Logger: p.log.With("component", "sink")})
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	if err := sk.Prepare(ctx); err != nil {
		return fmt.Errorf("prepare datasets: %w", err)
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
	return &ingest.Writer{Queue: q, Table: p.tables[q], Spool: p.Spool}, nil
}

// Config returns the configuration the pipeline was opened with.
func (p *Pipeline) Config() *config.Config { return p.cfg }

// Start starts one dispatcher per dataset; they post until ctx is done, then let in-flight POSTs
// finish until abort is done. A dataset that hits a fatal error stops and is reported to fatal;
// the others keep running. The returned wait blocks until every dispatcher returned.
func (p *Pipeline) Start(ctx, abort context.Context, fatal func(dataset string, err error)) (wait func()) {
	reserve := config.DefaultLiveReserve
	if r := p.cfg.Batch.LiveReserve; r != nil {
		reserve = *r
	}
	return p.start(ctx, abort, reserve, fatal)
}

// start is Start with the share of the limits a backlog leaves to live rows (0 for a backfill).
func (p *Pipeline) start(ctx, abort context.Context, reserve float64, fatal func(dataset string, err error)) (wait func()) {
	var queue batcher.Queue = p.Spool
	if p.wrapQueue != nil {
		queue = p.wrapQueue(queue)
	}
	var wg sync.WaitGroup
	for _, ds := range p.cfg.Datasets {
		d := batcher.NewDispatcher(batcher.Options{
			Dataset: ds,
			Linger:  time.Duration(p.cfg.Batch.Linger),
			Queue:   queue,
			Sender:  p.Sink,
			Logger:  p.log.With("component", "batcher", "dataset", ds.Name),
			Abort:   abort,
			PostLog: p.Spool,
			// Live rows get a reserve; with sequence numbers a table's POSTs go one at a time,
			// in order.
			LiveReserve: reserve,
			Serial:      p.cfg.PowerBI.SequenceNumbers,
		})
		p.mu.Lock()
		p.dispatchers[ds.Name] = d
		p.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Run(ctx); err != nil && fatal != nil {
				fatal(ds.Name, err)
			}
		}()
	}
	return wg.Wait
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

// Close closes the spool. Call it after Run returned.
func (p *Pipeline) Close() error { return p.Spool.Close() }

// UnknownFields returns how many input fields of q's table mapped to no column and were ignored.
func (p *Pipeline) UnknownFields(q spool.QueueKey) int64 {
	if t := p.tables[q]; t != nil {
		return t.UnknownIgnored()
	}
	return 0
}

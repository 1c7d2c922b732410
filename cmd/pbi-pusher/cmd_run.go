package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbi-pusher/pbi-pusher/admin"
	"github.com/pbi-pusher/pbi-pusher/auth"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/internal/buildinfo"
	"github.com/pbi-pusher/pbi-pusher/internal/sdnotify"
	"github.com/pbi-pusher/pbi-pusher/pipeline"
	"github.com/pbi-pusher/pbi-pusher/readback"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

func runDaemon(ctx context.Context, args []string, _ io.Writer, stderr io.Writer) int {
	fs := newFlagSet("run", "run -config FILE", "pbi-pusher run -config /etc/pbi-pusher/config.yaml", stderr)
	cfgPath := fs.String("config", "", "config file (YAML)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return exitUsage
	}
	if len(cfg.Sources) == 0 {
		fmt.Fprintln(stderr, "pbi-pusher run: the config has no sources (use backfill for files)")
		return exitUsage
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log := newLogger(cfg.Log, stderr)
	d := &daemon{cfg: cfg, path: *cfgPath, log: log, notify: sdnotify.New(os.LookupEnv), hup: hup}
	if err := d.run(ctx); err != nil {
		log.Error("pbi-pusher stopped", "err", err)
		return exitFatal
	}
	log.Info("pbi-pusher stopped")
	return exitOK
}

type daemon struct {
	cfg    *config.Config
	path   string
	log    *slog.Logger
	notify *sdnotify.Notifier
	hup    <-chan os.Signal

	metrics *admin.Metrics
	admin   *admin.Server
	p       *pipeline.Pipeline
	sources *sourceGroup
	// live is the config last accepted (at start or by a reload). d.cfg is never mutated after
	// start: the admin server reads it concurrently.
	live *config.Config
	lags kafkaLags
	hc   *http.Client // to Power BI and Entra ID
	// spool is the open spool, read by the admin server's readiness check.
	spool atomic.Pointer[spool.Spool]
	rb    *readback.Reader // nil when powerbi.read_back is off
}

// run follows design.md "Lifecycle": admin up → open spool → start senders (each resolves its
// dataset and signs in in the background, with backoff) → start sources → READY; on SIGTERM: STOPPING → stop sources → drain in-flight POSTs until
// shutdown_timeout → close spool.
func (d *daemon) run(ctx context.Context) error {
	d.log.Info("starting", "config", d.cfg.File, "spool", d.cfg.Spool.Path, "pid", os.Getpid())
	adminCtx, stopAdmin := context.WithCancel(context.Background())
	defer stopAdmin()
	if err := d.startAdmin(adminCtx); err != nil {
		return err
	}
	defer d.metrics.Unregister()
	if err := d.open(ctx); err != nil {
		if ctx.Err() != nil {
			// SIGTERM while authenticating or resolving datasets: a requested stop, not a failure
			// (systemd would otherwise mark a `systemctl stop` during start-up as failed).
			d.log.Info("start-up interrupted", "reason", context.Cause(ctx).Error(), "during", err.Error())
			return nil
		}
		return err
	}
	defer d.closeSpool()
	sendCtx, stopSend := context.WithCancel(context.Background())
	abortCtx, abort := context.WithCancel(context.Background())
	defer abort()
	// Datasets resolve and sign in in the background; a failing or parked one is logged, shown in
	// /status and metrics, and never stops the daemon or the other datasets.
	wait := d.p.Start(sendCtx, abortCtx, nil)
	d.live = d.cfg
	if d.rb != nil {
		go d.rb.Run(sendCtx) // the service's row counts: the large tier, /status, metrics
	}
	if err := d.startSources(ctx, d.cfg); err != nil {
		stopSend()
		wait()
		return err
	}
	_ = d.notify.Ready(fmt.Sprintf("pushing to %d datasets from %d sources", len(d.cfg.Datasets), len(d.cfg.Sources)))
	d.log.Info("ready", "datasets", len(d.cfg.Datasets), "sources", len(d.cfg.Sources))
	runErr := d.loop(ctx)
	_ = d.notify.Stopping()
	d.setReady(false)
	d.sources.stop()
	d.log.Info("sources stopped")
	stopSend()
	timer := time.AfterFunc(time.Duration(d.cfg.ShutdownTimeout), func() {
		d.log.Warn("shutdown_timeout passed: cancelling in-flight POSTs (their rows stay spooled)")
		abort()
	})
	wait()
	timer.Stop()
	d.log.Info("senders stopped")
	return runErr
}

// loop runs until a signal, reloading on SIGHUP and pinging the watchdog.
func (d *daemon) loop(ctx context.Context) error {
	var tick <-chan time.Time
	if iv := d.notify.WatchdogInterval(); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
	}
	compact := time.NewTicker(compactCheckInterval)
	defer compact.Stop()
	for {
		select {
		case <-ctx.Done():
			d.log.Info("shutting down", "reason", "signal")
			return nil
		case <-d.hup:
			d.reload(ctx)
		case <-tick:
			_ = d.notify.Watchdog()
		case <-compact.C:
			d.maybeCompact(ctx)
		}
	}
}

// compactCheckInterval is how often an idle spool is checked for reclaimable disk.
const compactCheckInterval = 5 * time.Minute

// maybeCompact gives disk back after a drained backlog (bbolt never shrinks its file): only when
// nothing is queued or in flight, so the copy is small and the writers it pauses are few.
func (d *daemon) maybeCompact(ctx context.Context) {
	if !spoolIdle(d.p.Spool.Stats()) {
		return
	}
	if _, err := d.p.Spool.MaybeCompact(ctx); err != nil {
		d.log.Warn("spool compaction failed; will retry when idle again", "err", err)
	}
}

// spoolIdle reports whether no row is queued or in flight.
func spoolIdle(st spool.Stats) bool {
	if st.InFlight > 0 {
		return false
	}
	for _, b := range st.Queues {
		if b.Rows > 0 {
			return false
		}
	}
	return true
}

func (d *daemon) startAdmin(ctx context.Context) error {
	reg := prometheus.NewRegistry()
	if err := admin.RegisterRuntime(reg, buildinfo.Read(version)); err != nil {
		return err
	}
	m, err := admin.NewMetrics(reg, d.cfg)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	d.metrics = m
	if d.cfg.Admin.Listen == "off" {
		return nil
	}
	token, err := adminToken(d.cfg.Admin)
	if err != nil {
		return err
	}
	srv, err := admin.NewServer(admin.ServerOptions{Listen: d.cfg.Admin.Listen, Gatherer: reg, Metrics: m, Token: token,
		Ready: d.spoolWritable, Logger: d.log.With("component", "admin")})
	if err != nil {
		return fmt.Errorf("admin server: %w", err)
	}
	d.admin = srv
	go func() {
		if err := srv.Run(ctx); err != nil {
			d.log.Error("admin server stopped", "err", err)
		}
	}()
	return nil
}

// spoolWritable is the spool's part of readiness ("accepting input durably"): false while the
// spool is full or the disk is down to its reserve (ingest pauses until space returns).
func (d *daemon) spoolWritable() bool {
	sp := d.spool.Load()
	return sp == nil || !sp.Full()
}

func (d *daemon) setReady(v bool) {
	if d.admin != nil {
		d.admin.SetReady(v)
	}
}

// open opens the spool, authenticates and resolves the datasets, all instrumented.
func (d *daemon) open(ctx context.Context) error {
	hc, err := auth.HTTPClient(d.cfg)
	if err != nil {
		return fmt.Errorf("http client: %w", err)
	}
	d.hc = hc
	o := pipeline.Options{Logger: d.log, HTTPClient: d.metrics.HTTPClient(hc), WrapQueue: d.metrics.Queue}
	if d.cfg.UsesPowerBI() { // tables only for eventstreams need no Power BI token
		tok, err := d.tokens(d.cfg)
		if err != nil {
			return err
		}
		o.Tokens = tok
	}
	limitMemory(d.cfg)
	p, err := pipeline.Open(ctx, d.cfg, o)
	if err != nil {
		return err
	}
	d.p = p
	d.spool.Store(p.Spool)
	if d.admin != nil {
		d.admin.SetSpool(p.Spool)
	}
	d.rb = newReadBack(d.cfg, p, d.log)
	d.metrics.SetSources(admin.Sources{Spool: p.Spool, Dispatcher: admin.Dispatchers(p.Dispatcher), KafkaLag: d.lags.lag,
		UnknownFields: p.UnknownFields, Sink: sinkStatus(p), ServiceRows: serviceRows(d.rb),
		Destinations: destinationStatus(p)})
	return nil
}

// tokens is the instrumented token source of cfg's auth settings.
func (d *daemon) tokens(cfg *config.Config) (auth.Source, error) {
	tok, err := auth.New(cfg, auth.Options{HTTPClient: d.hc, Logger: d.log.With("component", "auth")})
	if err != nil {
		return nil, fmt.Errorf("auth %s: %w", cfg.Auth.Method, err)
	}
	return d.metrics.Tokens(tok), nil
}

func (d *daemon) closeSpool() {
	if err := d.p.Close(); err != nil {
		d.log.Error("close spool", "err", err)
		return
	}
	d.log.Info("spool closed")
}

func (d *daemon) startSources(ctx context.Context, cfg *config.Config) error {
	srcs, err := buildSources(cfg, sourceDeps{p: d.p, metrics: d.metrics, log: d.log, lags: &d.lags})
	if err != nil {
		return err
	}
	d.setReady(true)
	d.sources = startSourceGroup(ctx, srcs, d.log, func() {
		// A source that stopped for good (wrong credentials, untrusted broker) must not leave the
		// daemon looking healthy: readiness turns 503 until a reload starts the sources again.
		d.setReady(false)
	})
	return nil
}

// reload applies a changed config on SIGHUP: new limits take effect at once and the sources are
// restarted with their new settings (stopped sources leave nothing unspooled: every source
// acknowledges only spooled rows). An invalid config, or one that changes datasets or tables
// (which needs the service's schema updated: a restart), is rejected and the old one kept.
func (d *daemon) reload(ctx context.Context) {
	_ = d.notify.Reloading()
	defer func() { _ = d.notify.Ready("reloaded") }()
	next, err := config.Load(d.path)
	if err == nil {
		err = sameSchema(d.live, next)
	}
	if err != nil {
		d.log.Error("reload rejected; keeping the running config", "config", d.path, "err", err)
		return
	}
	revived := 0
	if !reflect.DeepEqual(d.live.Auth, next.Auth) {
		tok, err := d.tokens(next)
		if err != nil {
			d.log.Error("reload rejected; keeping the running config", "config", d.path, "err", err)
			return
		}
		revived = d.p.SetTokens(tok)
		d.log.Info("auth settings changed: signing in with the new ones", "method", next.Auth.Method)
	}
	d.p.SetLimits(next.Datasets)
	d.sources.stop()
	if err := d.startSources(ctx, next); err != nil {
		d.log.Error("reload: sources failed to start; restarting the previous ones", "err", err)
		_ = d.startSources(ctx, d.live)
		return
	}
	d.live = next
	d.log.Info("config reloaded", "config", d.path, "sources", len(next.Sources), "parked_datasets_retried", revived+d.p.Revive())
}

// sinkStatus adapts the pipeline's per-dataset sink health to what /status and /metrics show.
func sinkStatus(p *pipeline.Pipeline) func(string) *admin.SinkStatus {
	return func(dataset string) *admin.SinkStatus {
		h, ok := p.SinkHealth(dataset)
		if !ok {
			return nil
		}
		return &admin.SinkStatus{State: string(h.State), Reason: h.Reason, Since: h.Since, DownSince: h.Down,
			LastSuccess: h.LastSuccess, Permanent: h.Permanent, Errors: h.Errors}
	}
}

// destinationStatus reports the eventstream destinations: each table's delivered, waiting and
// in-flight rows, and the dispatcher's budget.
func destinationStatus(p *pipeline.Pipeline) func() []admin.DestinationSnapshot {
	return func() []admin.DestinationSnapshot {
		es := p.Eventstreams()
		out := make([]admin.DestinationSnapshot, 0, len(es))
		for _, name := range slices.Sorted(maps.Keys(es)) {
			s := admin.DestinationSnapshot{Name: name}
			if d := p.Dispatcher(name); d != nil {
				s.Dispatcher = d
			}
			v := p.Spool.Destination(name)
			for _, q := range es[name] {
				s.Tables = append(s.Tables, admin.DestinationTable{Dataset: q.Dataset, Table: q.Table,
					Delivered: v.Delivered(q), BacklogRows: v.Backlog(q).Rows, InFlightRows: v.InFlight(q)})
			}
			out = append(out, s)
		}
		return out
	}
}

// sourceGroup runs sources until stopped.
type sourceGroup struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startSourceGroup(parent context.Context, srcs []namedSource, log *slog.Logger, failed func()) *sourceGroup {
	ctx, cancel := context.WithCancel(parent)
	g := &sourceGroup{cancel: cancel}
	for _, s := range srcs {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := s.src.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("source failed", "source", s.name, "err", err, "readyz", "not ready until a reload or restart")
				failed()
				return
			}
			log.Info("source finished", "source", s.name)
		}()
	}
	return g
}

func (g *sourceGroup) stop() {
	g.cancel()
	g.wg.Wait()
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/pipeline"
)

// source is what the daemon needs from every configured input.
type source interface {
	Run(ctx context.Context) error
}

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
	log := newLogger(cfg.Log, stderr)
	d := &daemon{cfg: cfg, log: log}
	if err := d.run(ctx); err != nil {
		log.Error("pbi-pusher stopped", "err", err)
		return exitFatal
	}
	return exitOK
}

type daemon struct {
	cfg *config.Config
	log *slog.Logger
}

// run follows design.md "Lifecycle": open spool → resolve datasets → start senders → start
// sources; on ctx end: stop sources → drain in-flight POSTs until shutdown_timeout → close spool.
func (d *daemon) run(ctx context.Context) error {
	d.log.Info("starting", "config", d.cfg.File, "spool", d.cfg.Spool.Path)
	p, err := pipeline.Open(ctx, d.cfg, pipeline.Options{Logger: d.log})
	if err != nil {
		return err
	}
	defer func() {
		if err := p.Close(); err != nil {
			d.log.Error("close spool", "err", err)
		}
		d.log.Info("spool closed")
	}()
	sources, err := buildSources(d.cfg, p, d.log)
	if err != nil {
		return err
	}
	sendCtx, stopSend := context.WithCancel(context.Background())
	abortCtx, abort := context.WithCancel(context.Background())
	defer abort()
	fatal := make(chan error, len(d.cfg.Datasets))
	var senders sync.WaitGroup
	senders.Add(1)
	go func() {
		defer senders.Done()
		p.Run(sendCtx, abortCtx, func(ds string, err error) {
			d.log.Error("dataset stopped", "dataset", ds, "err", err)
			fatal <- fmt.Errorf("dataset %s: %w", ds, err)
		})
	}()
	srcCtx, stopSources := context.WithCancel(ctx)
	srcDone := d.startSources(srcCtx, sources)
	d.log.Info("ready", "datasets", len(d.cfg.Datasets), "sources", len(sources))
	var runErr error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down", "reason", "signal")
	case runErr = <-fatal:
	}
	stopSources()
	srcDone.Wait()
	d.log.Info("sources stopped")
	stopSend()
	timer := time.AfterFunc(time.Duration(d.cfg.ShutdownTimeout), abort)
	senders.Wait()
	timer.Stop()
	d.log.Info("senders stopped")
	return runErr
}

func (d *daemon) startSources(ctx context.Context, sources []namedSource) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.src.Run(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("source stopped", "source", s.name, "err", err)
				return
			}
			d.log.Info("source finished", "source", s.name)
		}()
	}
	return &wg
}

type namedSource struct {
	name string
	src  source
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/pbi-pusher/pbi-pusher/admin"
	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest/filesrc"
	"github.com/pbi-pusher/pbi-pusher/ingest/httpsrc"
	"github.com/pbi-pusher/pbi-pusher/ingest/kafkasrc"
	"github.com/pbi-pusher/pbi-pusher/pipeline"
)

// source is what the daemon needs from every configured input.
type source interface {
	Run(ctx context.Context) error
}

type namedSource struct {
	name string
	src  source
}

// sourceDeps are what building a source needs besides its config.
type sourceDeps struct {
	p       *pipeline.Pipeline
	metrics *admin.Metrics
	log     *slog.Logger
	lags    *kafkaLags // receives the built Kafka sources; nil = not reported
}

// kafkaLags reports the partition lags of the running Kafka sources to the admin metrics
// (admin.Sources.KafkaLag). buildSources replaces the set on every (re)build.
type kafkaLags struct {
	mu   sync.Mutex
	srcs []*kafkasrc.Source
}

func (k *kafkaLags) set(srcs []*kafkasrc.Source) {
	k.mu.Lock()
	k.srcs = srcs
	k.mu.Unlock()
}

// lag is admin.Sources.KafkaLag: every owned partition of every Kafka source.
func (k *kafkaLags) lag() []admin.PartitionLag {
	k.mu.Lock()
	srcs := slices.Clone(k.srcs)
	k.mu.Unlock()
	var out []admin.PartitionLag
	for _, s := range srcs {
		for _, pl := range s.Lag() {
			out = append(out, admin.PartitionLag{Topic: pl.Topic, Partition: pl.Partition, Lag: pl.Lag})
		}
	}
	return out
}

// buildSources constructs every configured source; it reports every problem at once.
func buildSources(cfg *config.Config, deps sourceDeps) ([]namedSource, error) {
	out := make([]namedSource, 0, len(cfg.Sources))
	var kafkas []*kafkasrc.Source
	for i, sc := range cfg.Sources {
		name := fmt.Sprintf("sources[%d] %s→%s", i, sc.Type, sc.Table)
		src, err := buildSource(cfg, i, name, deps)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if k, ok := src.(*kafkasrc.Source); ok {
			kafkas = append(kafkas, k)
		}
		out = append(out, namedSource{name: name, src: src})
	}
	if deps.lags != nil {
		deps.lags.set(kafkas)
	}
	return out, nil
}

func buildSource(cfg *config.Config, i int, name string, deps sourceDeps) (source, error) {
	sc := cfg.Sources[i]
	w, err := deps.p.Writer(sc.Table)
	if err != nil {
		return nil, err
	}
	rw := deps.metrics.Writer(w.Queue, w)
	// Each source adds its own "source" (its type) and identifying keys to the logger it gets;
	// adding the name here as well would repeat the key on every line.
	log := deps.log
	switch sc.Type {
	case "file", "stdin":
		return filesrc.New(sc, filesrc.Options{Writer: rw, Checkpoints: deps.p.Spool, Logger: log,
			CheckFields: deps.p.FieldChecker(sc.Table, log)})
	case "kafka":
		// Scale-out: this instance uses only its share of the dataset's limits (batcher/share.go).
		ds, share, _ := pipeline.KafkaShare(cfg, i)
		lead, err := deps.p.LeadGate(sc) // the backlog stays in Kafka (max_lead)
		if err != nil {
			return nil, err
		}
		return kafkasrc.New(sc, kafkasrc.Options{Writer: rw, Checkpoints: deps.p.Spool, Logger: log, Lead: lead,
			OnAssign: func(gen int32, partitions []int, total int) {
				if d := deps.p.Dispatcher(ds); d != nil {
					d.SetAssignment(share, batcher.Assignment{Generation: gen, Partitions: partitions, Total: total})
				}
			},
			OnRevoke: func() {
				if d := deps.p.Dispatcher(ds); d != nil {
					d.Revoke(share)
				}
			}})
	case "http":
		return httpsrc.New(sc, httpsrc.Options{Resolve: httpResolver(sc, deps), Full: deps.p.Spool.Full, Logger: log,
			Rejected: deps.metrics.HTTPIngestRejected})
	}
	return nil, fmt.Errorf("unknown source type %q", sc.Type)
}

// httpResolver accepts any table of the source's dataset, addressed by dataset name or id.
func httpResolver(sc config.Source, deps sourceDeps) httpsrc.Resolver {
	return func(dataset, table string) (httpsrc.Target, bool) {
		bound, _, err := deps.p.Config().FindTable(sc.Table)
		if err != nil || (dataset != bound.Name && dataset != deps.p.Sink.DatasetID(bound.Name)) {
			return httpsrc.Target{}, false
		}
		w, err := deps.p.Writer(bound.Name + "/" + table)
		if err != nil {
			return httpsrc.Target{}, false
		}
		// The handler coerces (and counts unknown fields) once; the writer spools its rows as is.
		return httpsrc.Target{Dataset: bound.Name, Table: table,
			Writer: deps.metrics.Writer(w.Queue, w), Schema: w.Table}, true
	}
}

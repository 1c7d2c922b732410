package kafkasrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/segmentio/kafka-go"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// RecordWriter durably stores records and checkpoints in one transaction (ingest.Writer).
type RecordWriter interface {
	Write(ctx context.Context, source string, recs []ingest.Record, checkpoints map[string][]byte) (ingest.Result, error)
}

// CheckpointReader reads spool metadata (spool.Spool); nil, nil when the key is absent.
type CheckpointReader interface {
	Meta(key string) ([]byte, error)
}

// Source consumes the configured topics as a member of the configured group.
type Source struct {
	cfg    config.Source
	topics []string
	opts   Options
	dialer *kafka.Dialer
	log    *slog.Logger
	stats  counters
	lags   lagTable
	// shareUnknown is the generation whose partition count could not be read (logged once).
	shareUnknown atomic.Int32
}

type counters struct {
	messages, rows, rejected, commits, rebalances atomic.Int64
}

// New validates cfg and opts and returns a Source; nothing connects until Run.
func New(cfg config.Source, opts Options) (*Source, error) {
	if err := validate(cfg, opts); err != nil {
		return nil, err
	}
	d := opts.Dialer
	if d == nil {
		var err error
		if d, err = Dialer(cfg); err != nil {
			return nil, err
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Source{cfg: cfg, topics: topicsOf(cfg), opts: withDefaults(opts), dialer: d}
	s.log = log.With("source", "kafka", "group", cfg.Group, "topics", strings.Join(s.topics, ","))
	return s, nil
}

func topicsOf(cfg config.Source) []string {
	if cfg.Topic != "" {
		return append([]string{cfg.Topic}, cfg.Topics...)
	}
	return append([]string(nil), cfg.Topics...)
}

func validate(cfg config.Source, opts Options) error {
	var errs []error
	if len(cfg.Brokers) == 0 {
		errs = append(errs, errors.New("kafka: brokers is required"))
	}
	if len(topicsOf(cfg)) == 0 {
		errs = append(errs, errors.New("kafka: topic or topics is required"))
	}
	if cfg.Group == "" {
		errs = append(errs, errors.New("kafka: group is required"))
	}
	if _, err := startOffset(cfg.Start); err != nil {
		errs = append(errs, err)
	}
	if opts.Writer == nil || opts.Checkpoints == nil {
		errs = append(errs, errors.New("kafka: Options.Writer and Options.Checkpoints are required"))
	}
	return errors.Join(errs...)
}

func startOffset(start string) (int64, error) {
	switch strings.ToLower(start) {
	case "", "earliest":
		return kafka.FirstOffset, nil
	case "latest":
		return kafka.LastOffset, nil
	default:
		return 0, fmt.Errorf("kafka: start must be earliest or latest, not %q", start)
	}
}

// Stats returns a snapshot of the counters.
func (s *Source) Stats() Stats {
	return Stats{
		Messages: s.stats.messages.Load(), Rows: s.stats.rows.Load(), Rejected: s.stats.rejected.Load(),
		Commits: s.stats.commits.Load(), Rebalances: s.stats.rebalances.Load(),
	}
}

// Run consumes until ctx is done (nil) or a fatal error: a spool write or checkpoint read
// failing for a reason other than ctx, rejected credentials, an untrusted broker certificate,
// or a group/topic authorization failure. On return the partitions' spooled offsets are
// committed and the group is left.
func (s *Source) Run(ctx context.Context) error {
	start, _ := startOffset(s.cfg.Start)
	cg, err := kafka.NewConsumerGroup(s.groupConfig(start))
	if err != nil {
		return fmt.Errorf("kafka group %s: %w", s.cfg.Group, err)
	}
	runCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	var workers sync.WaitGroup
	s.log.Info("kafka source started", "brokers", strings.Join(s.cfg.Brokers, ","))
	err = s.loop(runCtx, cg, &workers, fail)
	_ = cg.Close() // ends the generation: workers commit what is spooled, then LeaveGroup
	workers.Wait()
	s.log.Info("kafka source stopped", "messages", s.stats.messages.Load(), "commits", s.stats.commits.Load())
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Source) groupConfig(start int64) kafka.ConsumerGroupConfig {
	return kafka.ConsumerGroupConfig{
		ID:                s.cfg.Group,
		Brokers:           s.cfg.Brokers,
		Dialer:            s.dialer,
		Topics:            s.topics,
		HeartbeatInterval: s.opts.HeartbeatInterval,
		SessionTimeout:    s.opts.SessionTimeout,
		RebalanceTimeout:  s.opts.RebalanceTimeout,
		JoinGroupBackoff:  s.opts.JoinGroupBackoff,
		Timeout:           s.opts.CommitTimeout,
		StartOffset:       start,
		ErrorLogger:       kafka.LoggerFunc(s.kafkaErrorf),
	}
}

func (s *Source) kafkaErrorf(format string, args ...any) {
	s.log.Debug("kafka-go: " + strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// loop takes one generation after another until ctx ends or a worker fails fatally.
func (s *Source) loop(ctx context.Context, cg *kafka.ConsumerGroup, workers *sync.WaitGroup, fail context.CancelCauseFunc) error {
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err != nil && permanent(err) {
			return fmt.Errorf("kafka group %s: %w", s.cfg.Group, err)
		}
		if err != nil {
			s.logJoinError(err)
			continue
		}
		s.startGeneration(ctx, gen, workers, fail)
	}
}

package kafkasrc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// partitionWorker consumes one partition for the length of one generation.
type partitionWorker struct {
	src       *Source
	topic     string
	partition int
	committed int64 // group offset (next to read), or kafka.FirstOffset/LastOffset if none
	spooled   int64 // next offset whose predecessors are all in the spool; -1 = nothing this generation
	commits   committer
	fail      context.CancelCauseFunc
}

func (w *partitionWorker) name() string { return w.topic + "/" + strconv.Itoa(w.partition) }

func (w *partitionWorker) key() string {
	return checkpointKey(w.src.cfg.Group, w.topic, w.partition)
}

// run reads, spools and commits until ctx (the generation) ends, then commits what is spooled.
func (w *partitionWorker) run(ctx context.Context) {
	w.spooled = -1
	if ctx.Err() != nil {
		return
	}
	start, err := resumeOffset(w.committed, w.src.opts.Checkpoints, w.key())
	if err != nil {
		w.fail(fmt.Errorf("kafka %s: %w", w.name(), err))
		return
	}
	r := kafka.NewReader(w.readerConfig())
	if err := r.SetOffset(start); err != nil {
		_ = r.Close()
		w.fail(fmt.Errorf("kafka %s: set offset %d: %w", w.name(), start, err))
		return
	}
	defer w.src.lags.remove(w)
	w.initialLag(ctx, r)
	w.consume(ctx, r)
	_ = r.Close() // the fetch loop has returned (K4); MaxWait bounds this (K5)
	w.commitSpooled()
}

func (w *partitionWorker) readerConfig() kafka.ReaderConfig {
	o := w.src.opts
	return kafka.ReaderConfig{
		Brokers:       w.src.cfg.Brokers,
		Topic:         w.topic,
		Partition:     w.partition,
		Dialer:        w.src.dialer,
		MaxWait:       o.MaxWait,
		MinBytes:      1,
		MaxBytes:      4 << 20,
		QueueCapacity: o.BatchSize,
		ErrorLogger:   kafka.LoggerFunc(w.src.kafkaErrorf),
	}
}

func (w *partitionWorker) consume(ctx context.Context, r *kafka.Reader) {
	for {
		if g := w.src.opts.Lead; g != nil && g.Wait(ctx) != nil {
			return // the generation ended while the spool held the whole lead
		}
		msgs, err := fetchBatch(ctx, r, w.src.opts.BatchSize, w.src.opts.Linger)
		if ctx.Err() != nil {
			return // messages fetched but not spooled are read again by the next owner
		}
		if err != nil {
			w.src.log.Warn("kafka fetch failed; retrying", "partition", w.name(), "err", err)
			continue
		}
		if !w.spool(ctx, msgs) {
			return
		}
		w.fetchedLag(msgs)
		w.commitSpooled()
	}
}

// spool writes msgs and their checkpoint durably; false when the worker must stop.
func (w *partitionWorker) spool(ctx context.Context, msgs []kafka.Message) bool {
	next := msgs[len(msgs)-1].Offset + 1
	cps := map[string][]byte{w.key(): encodeCheckpoint(next)}
	res, err := w.src.opts.Writer.Write(ctx, w.name(), decodeMessages(msgs), cps)
	if err != nil {
		if ctx.Err() == nil {
			w.fail(fmt.Errorf("kafka %s: spool write at offset %d: %w", w.name(), msgs[0].Offset, err))
		}
		return false
	}
	w.spooled = next
	st := &w.src.stats
	st.messages.Add(int64(len(msgs)))
	st.rows.Add(int64(res.Rows))
	st.rejected.Add(int64(res.Rejected))
	return true
}

// commitSpooled commits the spooled offset if it is ahead of the committed one. A failure is
// not retried: the next commit covers it, and a new owner resumes from the spool checkpoint.
func (w *partitionWorker) commitSpooled() {
	if w.spooled < 0 || w.spooled <= w.committed {
		return // nothing spooled in this generation, or already committed
	}
	err := w.commits.CommitOffsets(map[string]map[int]int64{w.topic: {w.partition: w.spooled}})
	if err != nil {
		w.src.log.Debug("kafka commit failed", "partition", w.name(), "offset", w.spooled, "err", err)
		return
	}
	w.committed = w.spooled
	w.src.stats.commits.Add(1)
}

// fetchBatch returns up to n messages: it waits for the first without limit (until ctx ends),
// then for at most linger for the rest.
func fetchBatch(ctx context.Context, r *kafka.Reader, n int, linger time.Duration) ([]kafka.Message, error) {
	first, err := r.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	msgs := append(make([]kafka.Message, 0, n), first)
	lctx, cancel := context.WithTimeout(ctx, linger)
	defer cancel()
	for len(msgs) < n {
		m, err := r.FetchMessage(lctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return msgs, nil
			}
			return msgs, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

package kafkasrc

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/segmentio/kafka-go"
)

// PartitionLag is the consumer lag of one partition this member owns: the partition's high
// watermark minus the next offset not yet in the spool.
type PartitionLag struct {
	Topic     string
	Partition int
	Lag       int64
}

// lagTable holds the lag of every partition owned in the current generation.
type lagTable struct {
	mu sync.Mutex
	m  map[lagKey]lagEntry
}

type lagKey struct {
	topic     string
	partition int
}

type lagEntry struct {
	owner *partitionWorker
	lag   int64
}

func (t *lagTable) set(w *partitionWorker, lag int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[lagKey]lagEntry{}
	}
	t.m[lagKey{w.topic, w.partition}] = lagEntry{owner: w, lag: max(lag, 0)}
}

// remove drops w's partition, unless a newer worker of the same partition already owns it.
func (t *lagTable) remove(w *partitionWorker) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := lagKey{w.topic, w.partition}
	if e, ok := t.m[k]; ok && e.owner == w {
		delete(t.m, k)
	}
}

func (t *lagTable) snapshot() []PartitionLag {
	t.mu.Lock()
	out := make([]PartitionLag, 0, len(t.m))
	for k, e := range t.m {
		out = append(out, PartitionLag{Topic: k.topic, Partition: k.partition, Lag: e.lag})
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b PartitionLag) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// Lag returns, per partition this member currently owns, the high watermark minus the next
// offset not yet spooled, sorted by topic and partition. The watermark is the one seen by the
// partition's latest fetch (or, before the first fetch, read from the partition leader), so a
// partition that is not fetching (spool full) shows the lag as of its last fetch. A partition
// appears once its lag is known and disappears when a rebalance takes it away. Safe for
// concurrent use.
func (s *Source) Lag() []PartitionLag {
	return s.lags.snapshot()
}

// initialLag records the lag of a newly assigned partition before its first fetch, so that an
// idle or blocked partition is reported too. A failure leaves it unknown until the first fetch.
func (w *partitionWorker) initialLag(ctx context.Context, r *kafka.Reader) {
	ctx, cancel := context.WithTimeout(ctx, w.src.opts.CommitTimeout)
	defer cancel()
	lag, err := r.ReadLag(ctx)
	if err != nil {
		w.src.log.Debug("kafka lag unknown until the first fetch", "partition", w.name(), "err", err)
		return
	}
	w.src.lags.set(w, lag)
}

// fetchedLag records the lag after msgs (the latest fetch) were spooled up to w.spooled.
func (w *partitionWorker) fetchedLag(msgs []kafka.Message) {
	w.src.lags.set(w, msgs[len(msgs)-1].HighWaterMark-w.spooled)
}

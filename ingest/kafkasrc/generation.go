package kafkasrc

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/segmentio/kafka-go"
)

// committer commits offsets bound to one group generation (kafka.Generation).
type committer interface {
	CommitOffsets(offsets map[string]map[int]int64) error
}

// serialCommitter lets the partitions of one generation share its coordinator connection
// one request at a time.
type serialCommitter struct {
	mu  sync.Mutex
	gen committer
}

func (c *serialCommitter) CommitOffsets(offsets map[string]map[int]int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen.CommitOffsets(offsets)
}

// startGeneration starts one worker per owned partition, then reports the new share. The
// workers end with the generation (rebalance or Close).
func (s *Source) startGeneration(ctx context.Context, gen *kafka.Generation, workers *sync.WaitGroup, fail context.CancelCauseFunc) {
	s.stats.rebalances.Add(1)
	commits := &serialCommitter{gen: gen}
	for _, topic := range s.topics {
		for _, pa := range gen.Assignments[topic] {
			w := &partitionWorker{src: s, topic: topic, partition: pa.ID, committed: pa.Offset, commits: commits, fail: fail}
			workers.Add(1)
			gen.Start(func(gctx context.Context) {
				defer workers.Done()
				w.run(gctx)
			})
		}
	}
	s.reportShare(ctx, gen.ID, ownedPartitions(gen.Assignments))
}

func ownedPartitions(assign map[string][]kafka.PartitionAssignment) []string {
	var owned []string
	for topic, pas := range assign {
		for _, pa := range pas {
			owned = append(owned, fmt.Sprintf("%s/%d", topic, pa.ID))
		}
	}
	slices.Sort(owned)
	return owned
}

func (s *Source) reportShare(ctx context.Context, genID int32, owned []string) {
	total, err := s.partitionCount(ctx)
	if err != nil {
		s.log.Warn("kafka partitions assigned; share unknown", "generation", genID, "partitions", owned, "err", err)
		return
	}
	share := 0.0
	if total > 0 {
		share = float64(len(owned)) / float64(total)
	}
	s.log.Info("kafka partitions assigned", "generation", genID, "partitions", owned, "total", total, "share", share)
	if s.opts.OnShare != nil {
		s.opts.OnShare(share)
	}
}

// partitionCount asks the cluster how many partitions the subscribed topics have in total.
func (s *Source) partitionCount(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.CommitTimeout)
	defer cancel()
	var lastErr error
	for _, broker := range s.cfg.Brokers {
		n, err := s.countOn(ctx, broker)
		if err == nil {
			return n, nil
		}
		lastErr = err
	}
	return 0, lastErr
}

func (s *Source) countOn(ctx context.Context, broker string) (int, error) {
	conn, err := s.dialer.DialContext(ctx, "tcp", broker)
	if err != nil {
		return 0, fmt.Errorf("kafka metadata %s: %w", broker, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	parts, err := conn.ReadPartitions(s.topics...)
	if err != nil {
		return 0, fmt.Errorf("kafka metadata %s: %w", broker, err)
	}
	return len(parts), nil
}

package kafkasrc

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

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
	if s.opts.OnRevoke != nil {
		// kafka-go waits for every function started on a generation before it joins the next
		// one, so the revocation is always reported before the next assignment.
		gen.Start(func(gctx context.Context) {
			<-gctx.Done()
			s.opts.OnRevoke()
		})
	}
	if !s.reportShare(ctx, gen.ID, gen.Assignments) {
		// Without the partition count this member uses none of the dataset's budget: ask again
		// until it is known or the generation ends (the failure was logged once).
		gen.Start(func(gctx context.Context) {
			for {
				select {
				case <-gctx.Done():
					return
				case <-time.After(s.opts.JoinGroupBackoff):
				}
				if s.reportShare(gctx, gen.ID, gen.Assignments) {
					s.log.Info("kafka partition count known again; share reported", "generation", gen.ID)
					return
				}
			}
		})
	}
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

// reportShare reports the generation's assignment; false when the partition count could not be
// read (logged at WARN the first time for the generation).
func (s *Source) reportShare(ctx context.Context, genID int32, assign map[string][]kafka.PartitionAssignment) bool {
	owned := ownedPartitions(assign)
	all, err := s.partitionList(ctx)
	total := len(all)
	if err != nil {
		if s.shareUnknown.Swap(genID) != genID {
			s.log.Warn("kafka partitions assigned; share unknown, this member sends nothing until it is known",
				"generation", genID, "partitions", owned, "err", err)
		}
		return false
	}
	share := 0.0
	if total > 0 {
		share = float64(len(owned)) / float64(total)
	}
	s.log.Info("kafka partitions assigned", "generation", genID, "partitions", owned, "total", total, "share", share)
	if s.opts.OnShare != nil {
		s.opts.OnShare(share)
	}
	if s.opts.OnAssign != nil {
		s.opts.OnAssign(genID, partitionIndices(all, assign), total)
	}
	return true
}

// partitionIndices returns where the assigned partitions stand in all (sorted "topic/partition"
// keys compared by topic, then partition number).
func partitionIndices(all []topicPartition, assign map[string][]kafka.PartitionAssignment) []int {
	var idx []int
	for topic, pas := range assign {
		for _, pa := range pas {
			if i, ok := slices.BinarySearchFunc(all, topicPartition{topic, pa.ID}, compareTP); ok {
				idx = append(idx, i)
			}
		}
	}
	slices.Sort(idx)
	return idx
}

type topicPartition struct {
	topic     string
	partition int
}

func compareTP(a, b topicPartition) int {
	if c := strings.Compare(a.topic, b.topic); c != 0 {
		return c
	}
	return a.partition - b.partition
}

// partitionList asks the cluster for the partitions of the subscribed topics, sorted.
func (s *Source) partitionList(ctx context.Context) ([]topicPartition, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.CommitTimeout)
	defer cancel()
	var lastErr error
	for _, broker := range s.cfg.Brokers {
		all, err := s.partitionsOn(ctx, broker)
		if err == nil {
			return all, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func (s *Source) partitionsOn(ctx context.Context, broker string) ([]topicPartition, error) {
	conn, err := s.dialer.DialContext(ctx, "tcp", broker)
	if err != nil {
		return nil, fmt.Errorf("kafka metadata %s: %w", broker, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	parts, err := conn.ReadPartitions(s.topics...)
	if err != nil {
		return nil, fmt.Errorf("kafka metadata %s: %w", broker, err)
	}
	all := make([]topicPartition, 0, len(parts))
	for _, p := range parts {
		all = append(all, topicPartition{p.Topic, p.ID})
	}
	slices.SortFunc(all, compareTP)
	return slices.CompactFunc(all, func(a, b topicPartition) bool { return compareTP(a, b) == 0 }), nil
}

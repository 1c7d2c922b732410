package kafkasrc

import (
	"context"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// Options are the code-side settings of a Source. Zero values take the documented defaults.
type Options struct {
	Writer      RecordWriter     // required
	Checkpoints CheckpointReader // required
	Logger      *slog.Logger     // nil = discard
	// OnShare receives owned ÷ total partitions of the subscribed topics after every rebalance
	// (0 < share <= 1, or 0 when this member owns nothing). It runs on Run's goroutine and
	// must not block. It is not called when the partition count cannot be read.
	OnShare func(share float64)
	// OnAssign receives, after every rebalance, the generation and the partitions this member
	// owns as indices into all partitions of the subscribed topics sorted by topic then partition
	// (total of them): where its cells lie in the dataset's share space (batcher/share.go). Same
	// goroutine and conditions as OnShare.
	OnAssign func(generation int32, partitions []int, total int)
	// OnRevoke is called when a generation ends (a rebalance starts, or Close), before the next
	// generation is joined: the member owns nothing until OnAssign. It must not block.
	OnRevoke func()
	// Lead, if set, bounds how far the source reads ahead of delivery (max_lead): every
	// partition waits on it before fetching the next batch.
	Lead LeadGate
	// Dialer overrides the dialer built from the config's tls and sasl keys.
	Dialer *kafka.Dialer

	MaxWait           time.Duration // fetch long-poll; default 500ms
	SessionTimeout    time.Duration // group session; default 10s
	HeartbeatInterval time.Duration // default 1s
	RebalanceTimeout  time.Duration // default 10s
	JoinGroupBackoff  time.Duration // wait after a failed join; default 2s
	CommitTimeout     time.Duration // coordinator request timeout (commits); default 5s
	BatchSize         int           // messages per spool write; default 500
	Linger            time.Duration // wait for a fuller batch; default 200ms
}

// LeadGate holds fetching while the rows read ahead of delivery reach their bound.
type LeadGate interface {
	// Wait returns once more rows may be read, or with ctx's error.
	Wait(ctx context.Context) error
}

// Stats counts what a Source did since New.
type Stats struct {
	Messages   int64 // messages spooled
	Rows       int64 // rows written (ingest.Result.Rows)
	Rejected   int64 // records dead-lettered (ingest.Result.Rejected)
	Commits    int64 // successful offset commits
	Rebalances int64 // generations joined
}

func withDefaults(o Options) Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.MaxWait, 500*time.Millisecond)
	def(&o.SessionTimeout, 10*time.Second)
	def(&o.HeartbeatInterval, time.Second)
	def(&o.RebalanceTimeout, 10*time.Second)
	def(&o.JoinGroupBackoff, 2*time.Second)
	def(&o.CommitTimeout, 5*time.Second)
	def(&o.Linger, 200*time.Millisecond)
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	return o
}

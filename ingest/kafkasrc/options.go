package kafkasrc

import (
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

package sink

import (
	"context"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Destination is one Power BI push dataset as a batcher.Destination: the dataset's limits
// (rolling windows), POST rows, and this package's classification of the answer.
type Destination struct {
	Client  Poster         // *Client, or a wrapper that observes its answers
	Dataset config.Dataset // name, retention, limits
}

// Poster posts rows (Client.PostRows).
type Poster interface {
	PostRows(ctx context.Context, dataset, table string, seq uint64, rows [][]byte) error
}

// Limits returns the dataset's configured limits.
func (d Destination) Limits() batcher.Limits {
	return batcher.Limits{Rates: d.Dataset.Limits, Retention: d.Dataset.Retention}
}

// Send posts rows to the dataset's table q.Table.
func (d Destination) Send(ctx context.Context, q spool.QueueKey, rows []spool.Row) error {
	data := make([][]byte, len(rows))
	for i, r := range rows {
		data[i] = r.Data
	}
	return d.Client.PostRows(ctx, q.Dataset, q.Table, rows[0].Seq, data)
}

// Classify maps a sink error onto the batcher's classes (nil = OK).
func (Destination) Classify(err error) batcher.Outcome { return BatcherOutcome(err) }

// BatcherOutcome is Classify, RetryAfter and Message as a batcher.Outcome.
func BatcherOutcome(err error) batcher.Outcome {
	if err == nil {
		return batcher.Outcome{Class: batcher.OK}
	}
	var c batcher.Class
	switch Classify(err) {
	case OK:
		c = batcher.OK
	case Throttled:
		c = batcher.Throttled
	case Retryable:
		c = batcher.Retryable
	case Rejected:
		c = batcher.Rejected
	default:
		c = batcher.Fatal
	}
	return batcher.Outcome{Class: c, RetryAfter: RetryAfter(err), Message: Message(err)}
}

package eventstream

import (
	"context"
	"errors"
	"fmt"
	"math"

	"golang.org/x/time/rate"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// A send is one WriteMessages call, which kafka-go splits into produce requests of at most the
// request budget per partition. maxRowsPerSend and requestsPerSend bound it, so a backlog goes
// out in few sends (the scheduler logs every send of the last hour).
const (
	maxRowsPerSend  = 10_000
	requestsPerSend = 8
	maxBytesPerSend = 16 << 20
)

// Destination is an eventstreams entry as a batcher.Destination: its limits (events and bytes
// per second, the request budget), its send and its classification.
type Destination struct {
	s         *Sender
	events    *rate.Limiter
	bytes     *rate.Limiter
	rows      int // rows per send
	sendBytes int // row bytes per send
}

// NewDestination returns the destination of s, paced to its configured events/s and bytes/s.
func NewDestination(s *Sender) *Destination {
	eps := s.cfg.EventsPerSecond
	if eps <= 0 {
		eps = 1000
	}
	bps := int(s.cfg.BytesPerSecond)
	if bps <= 0 {
		bps = 1_000_000
	}
	rows := min(maxRowsPerSend, eps)
	sendBytes := min(maxBytesPerSend, requestsPerSend*s.maxBytes)
	return &Destination{
		s:         s,
		rows:      rows,
		sendBytes: sendBytes,
		events:    rate.NewLimiter(rate.Limit(eps), max(eps, rows)),
		bytes:     rate.NewLimiter(rate.Limit(bps), max(bps, sendBytes)),
	}
}

// Sender returns the underlying sender.
func (d *Destination) Sender() *Sender { return d.s }

// Limits: a send carries at most a second of events (and 10,000) and a few requests' worth of
// bytes; the rolling hour holds events/s × 3600 rows. Send paces to events/s and bytes/s.
func (d *Destination) Limits() batcher.Limits {
	eps := float64(d.events.Limit())
	perHour := int(min(math.MaxInt32, eps*3600))
	return batcher.Limits{
		Rates: batcherRates(d.rows, perHour),
		// No large tier: that is Power BI's rule for retention-None tables.
		Retention: "basicFIFO",
		MaxBytes:  d.sendBytes,
	}
}

// Send paces the rows to the configured rates, then writes them (see Sender.Send).
func (d *Destination) Send(ctx context.Context, q spool.QueueKey, rows []spool.Row) error {
	msgs := make([]Message, len(rows))
	n := 0
	for i, r := range rows {
		msgs[i] = Message{Data: r.Data, Position: r.Position}
		n += len(r.Data)
	}
	if err := d.events.WaitN(ctx, min(len(rows), d.events.Burst())); err != nil {
		return d.s.fail("wait for the events/s budget", Retryable, err)
	}
	if err := d.bytes.WaitN(ctx, min(n, d.bytes.Burst())); err != nil {
		return d.s.fail("wait for the bytes/s budget", Retryable, err)
	}
	return d.s.Send(ctx, q.Table, msgs)
}

// Classify maps Send's error onto the batcher's classes, with each message's own outcome when
// the broker answered them differently.
func (d *Destination) Classify(err error) batcher.Outcome {
	if err == nil {
		return batcher.Outcome{Class: batcher.OK}
	}
	o := outcome(err)
	var e *Error
	if errors.As(err, &e) && e.Rows != nil {
		o.Rows = make([]batcher.Outcome, len(e.Rows))
		for i, re := range e.Rows {
			o.Rows[i] = batcher.Outcome{Class: batcher.OK}
			if re != nil {
				o.Rows[i] = outcome(re)
			}
		}
	}
	return o
}

func outcome(err error) batcher.Outcome {
	c := batcher.Retryable
	switch Classify(err) {
	case OK:
		c = batcher.OK
	case Throttled:
		c = batcher.Throttled
	case Rejected:
		c = batcher.Rejected
	case Fatal:
		c = batcher.Fatal
	}
	return batcher.Outcome{Class: c, Message: fmt.Sprint(err)}
}

// batcherRates are the rolling-window limits of an Eventstream destination.
func batcherRates(rowsPerSend, rowsPerHour int) config.Limits {
	return config.Limits{
		RowsPerPost:       rowsPerSend,
		PostsPerMinute:    600, // the per-second pacing in Send binds first
		RowsPerHour:       rowsPerHour,
		PendingPosts:      2,
		PostsPerHourLarge: 600 * 60,
		LargeTableRows:    math.MaxInt32,
	}
}

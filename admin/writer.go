package admin

import (
	"context"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// RecordWriter is the ingest seam every source writes through (*ingest.Writer implements it).
type RecordWriter interface {
	Write(ctx context.Context, source string, recs []ingest.Record, checkpoints map[string][]byte) (ingest.Result, error)
}

// Writer wraps w, the writer of table q, to count rows read, spooled and dead-lettered (decode or
// schema). Only successful writes count: a failed write is retried by its source.
func (m *Metrics) Writer(q spool.QueueKey, w RecordWriter) RecordWriter {
	return &writer{next: w, q: q, m: m}
}

type writer struct {
	next RecordWriter
	q    spool.QueueKey
	m    *Metrics
}

func (w *writer) Write(ctx context.Context, source string, recs []ingest.Record, cps map[string][]byte) (ingest.Result, error) {
	res, err := w.next.Write(ctx, source, recs, cps)
	if err == nil {
		w.m.Ingested(w.q, recs, res)
	}
	return res, err
}

// Ingested counts one successful write of recs to q (for code that calls ingest.Writer directly).
func (m *Metrics) Ingested(q spool.QueueKey, recs []ingest.Record, res ingest.Result) {
	decode := int64(res.Malformed)
	schema := max(0, int64(res.Rejected)-decode)
	m.tables.add(q, int64(len(recs)), int64(res.Rows), map[string]int64{ReasonDecode: decode, ReasonSchema: schema})
}

// Queue wraps a dispatcher's queue (the spool) to count rows Power BI rejected: every row of a
// successful Reject is dead-lettered with reason "rejected".
func (m *Metrics) Queue(q batcher.Queue) batcher.Queue { return &queue{Queue: q, m: m} }

type queue struct {
	batcher.Queue
	m *Metrics
}

func (q *queue) Reject(b *spool.Batch, reason string) error {
	if err := q.Queue.Reject(b, reason); err != nil {
		return err
	}
	q.m.tables.add(b.Queue, 0, 0, map[string]int64{ReasonRejected: int64(len(b.Rows))})
	return nil
}

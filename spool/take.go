package spool

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// errNoRows rolls back a Take that found no ready row.
var errNoRows = errors.New("no ready rows")

// Take marks up to maxRows oldest ready rows of q (and at most maxBytes of row data, but always
// at least one row) in flight and returns them; nil when q has no ready rows. maxRows or
// maxBytes <= 0 means no limit. The in-flight marks are committed (fsynced) before Take returns,
// so a crash after the POST starts knows these rows may have been sent. On a full disk it fails
// with ErrNoSpace (nothing taken); try again later.
func (s *Spool) Take(q QueueKey, maxRows, maxBytes int) (*Batch, error) {
	unlock, err := s.lockWrite()
	if err != nil {
		return nil, err
	}
	defer unlock()
	qs := s.st.queues[q]
	if qs == nil || qs.ready == 0 {
		return nil, nil
	}
	var b *Batch
	var next Row
	err = s.update(func(tx *bolt.Tx) error {
		var err error
		b, next, err = takeTx(tx, q, qs, maxRows, maxBytes)
		if err == nil && len(b.Rows) == 0 {
			return errNoRows // commit nothing
		}
		return err
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(err, errNoRows) { // ready rows counted, none in the file: estimates (bgcheck.go)
		s.takeFoundNone(q, qs)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool: take from %s: %w", q, s.classifyWrite(err))
	}
	s.tookFirst()
	for _, r := range b.Rows {
		qs.taken[r.Seq] = newTaken(len(r.Data), r.At)
	}
	qs.takenPeak = max(qs.takenPeak, len(qs.taken))
	qs.ready -= len(b.Rows)
	qs.readyBytes -= int64(b.Bytes)
	qs.oldestSeq, qs.oldestAt = next.Seq, next.At
	s.st.inflight += len(b.Rows)
	return b, nil
}

// takeTx collects the rows, writes their in-flight markers and finds the next ready row.
func takeTx(tx *bolt.Tx, q QueueKey, qs *queueState, maxRows, maxBytes int) (*Batch, Row, error) {
	name := queueName(q)
	c := tx.Bucket(bucketQueues).Bucket(name).Cursor()
	h := &head{qs: qs, c: c}
	h.k, h.v = c.Seek(seqKey(qs.oldestSeq))
	h.skipTaken()
	b := &Batch{Queue: q}
	for h.k != nil && (maxRows <= 0 || len(b.Rows) < maxRows) {
		data := rowData(h.v)
		if maxBytes > 0 && len(b.Rows) > 0 && b.Bytes+len(data) > maxBytes {
			break
		}
		b.Rows = append(b.Rows, Row{Seq: keySeq(h.k), Data: append([]byte(nil), data...), At: rowAt(h.v), Position: rowPos(h.v)})
		b.Bytes += len(data)
		h.k, h.v = c.Next()
		h.skipTaken()
	}
	var next Row
	if h.k != nil {
		next = Row{Seq: keySeq(h.k), At: rowAt(h.v)}
	}
	return b, next, markInflight(tx, name, b.Rows)
}

func markInflight(tx *bolt.Tx, name []byte, rows []Row) error {
	ib, err := tx.Bucket(bucketInflight).CreateBucketIfNotExists(name)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := ib.Put(seqKey(r.Seq), []byte{1}); err != nil {
			return err
		}
	}
	return nil
}

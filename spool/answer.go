package spool

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// lockWrite takes the locks every write transaction holds. The caller runs the returned unlock.
func (s *Spool) lockWrite() (func(), error) {
	s.dbmu.RLock()
	s.wmu.Lock()
	unlock := func() { s.wmu.Unlock(); s.dbmu.RUnlock() }
	if s.db == nil {
		unlock()
		return nil, ErrClosed
	}
	return unlock, nil
}

// Ack deletes b's rows: Power BI answered 2xx. It also adds len(b.Rows) to q's delivered count,
// in the same transaction.
func (s *Spool) Ack(b *Batch) error {
	return s.answer(b, "ack", func(tx *bolt.Tx, keys [][]byte) error {
		if err := deleteKeys(tx.Bucket(bucketQueues).Bucket(queueName(b.Queue)), keys); err != nil {
			return err
		}
		key := []byte(keyDelivered + string(queueName(b.Queue)))
		return addU64(tx.Bucket(bucketSys), key, uint64(len(keys)))
	}, func(qs *queueState, n int) {
		qs.delivered += int64(n)
		s.freedLocked()
	})
}

// Nack returns b's rows to the ready queue, ahead of newer rows: they never left their place
// in the queue, only their in-flight marks are removed.
func (s *Spool) Nack(b *Batch) error {
	return s.answer(b, "nack", nil, func(qs *queueState, _ int) {
		s.signal()
	})
}

// Reject moves b's rows to the dead-letter bucket with reason, in one transaction.
func (s *Spool) Reject(b *Batch, reason string) error {
	at := s.now()
	var eff effects
	return s.answer(b, "reject", func(tx *bolt.Tx, keys [][]byte) error {
		eff = effects{}
		qb := tx.Bucket(bucketQueues).Bucket(queueName(b.Queue))
		for _, k := range keys {
			d := DeadLetter{Queue: b.Queue, Data: append([]byte(nil), rowData(qb.Get(k))...), Reason: reason, At: at}
			if err := putDead(tx, d, &eff); err != nil {
				return err
			}
		}
		if err := deleteKeys(qb, keys); err != nil {
			return err
		}
		return s.evictDead(tx, &eff)
	}, func(_ *queueState, _ int) {
		s.applyDead(eff)
		s.freedLocked()
	})
}

// answer checks that b's rows are in flight, removes their markers and runs txFn (row changes)
// in one transaction, then updates memory: rows leave the in-flight set and either go back to
// ready (txFn == nil: nack) or leave the spool; memFn adds the operation's own bookkeeping.
// A write that fails for lack of disk is retried for up to answerNoSpaceWait.
func (s *Spool) answer(b *Batch, op string, txFn func(*bolt.Tx, [][]byte) error, memFn func(*queueState, int)) error {
	if b == nil {
		return fmt.Errorf("spool: %s: nil batch", op)
	}
	return s.retryNoSpace(answerNoSpaceWait, func() error { return s.answerOnce(b, op, txFn, memFn) })
}

// answerNoSpaceWait bounds how long Ack, Nack and Reject retry on a full disk.
const answerNoSpaceWait = 30 * time.Second

func (s *Spool) answerOnce(b *Batch, op string, txFn func(*bolt.Tx, [][]byte) error, memFn func(*queueState, int)) error {
	unlock, err := s.lockWrite()
	if err != nil {
		return err
	}
	defer unlock()
	if s.staleBatch(b) {
		return nil // taken from a file since moved aside: its rows were salvaged (bgcheck.go)
	}
	qs, keys, err := s.inflightKeys(b)
	if err != nil {
		return fmt.Errorf("spool: %s %s: %w", op, b.Queue, err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		if err := deleteKeys(tx.Bucket(bucketInflight).Bucket(queueName(b.Queue)), keys); err != nil {
			return err
		}
		if txFn == nil {
			return nil
		}
		return txFn(tx, keys)
	})
	if err != nil {
		return fmt.Errorf("spool: %s %s: %w", op, b.Queue, s.classifyWrite(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(qs, keys, txFn == nil)
	memFn(qs, len(keys))
	return nil
}

// inflightKeys validates that every row of b is in flight (once) and returns their keys.
func (s *Spool) inflightKeys(b *Batch) (*queueState, [][]byte, error) {
	qs := s.st.queues[b.Queue]
	if qs == nil {
		return nil, nil, fmt.Errorf("%w: unknown queue", ErrNotInFlight)
	}
	seen := make(map[uint64]bool, len(b.Rows))
	keys := make([][]byte, 0, len(b.Rows))
	for _, r := range b.Rows {
		if _, ok := qs.taken[r.Seq]; !ok || seen[r.Seq] {
			return nil, nil, fmt.Errorf("%w: row %d", ErrNotInFlight, r.Seq)
		}
		seen[r.Seq] = true
		keys = append(keys, seqKey(r.Seq))
	}
	return qs, keys, nil
}

// settle removes keys from the in-flight set; back=true makes them ready again, otherwise they
// left the spool. Holds wmu and mu.
func (s *Spool) settle(qs *queueState, keys [][]byte, back bool) {
	for _, k := range keys {
		seq := keySeq(k)
		t := qs.taken[seq]
		delete(qs.taken, seq)
		if back {
			qs.addReady(1, int64(t.size), seq, t.when())
		} else {
			s.st.used -= int64(t.size)
		}
	}
	s.st.inflight -= len(keys)
	// A Go map never gives back the room it grew to: rebuild the in-flight set once it holds a
	// quarter of its peak, so a queue's memory follows the rows in flight now, not the most it
	// ever had (50 draining datasets otherwise keep tens of MiB of empty map).
	// (maps.Clone would keep the room: it copies the table as it is.)
	if n := len(qs.taken); n <= qs.takenPeak/4 {
		small := make(map[uint64]takenRow, n)
		for k, v := range qs.taken {
			small[k] = v
		}
		qs.taken, qs.takenPeak = small, n
	}
}

func deleteKeys(b *bolt.Bucket, keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	if b == nil {
		return fmt.Errorf("missing bucket")
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

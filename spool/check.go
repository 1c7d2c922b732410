package spool

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Check runs the full structural check of the file (what bbolt's tx.Check verifies, read with
// pread so damage is an error, never a fault) and verifies the spool's own invariants against it:
// the in-memory counters (ready rows and bytes, oldest ready row, in-flight set, capped bytes,
// dead-letter count) match a fresh scan, every in-flight marker points at a row of its queue and
// matches the in-flight set, and no queue holds a key above its bucket sequence. It waits for
// writers; meant for tests and for the crash test after every restart.
func (s *Spool) Check() error {
	s.WaitChecked()
	unlock, err := s.lockWrite()
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	if pf, err := openPageFile(s.path); err != nil {
		errs = append(errs, err)
	} else if pf != nil {
		errs = append(errs, pf.check())
		pf.close()
	}
	err = protect(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			errs = append(errs, s.checkState(tx)...)
			return nil
		})
	})
	errs = append(errs, err)
	return errors.Join(errs...)
}

// fileQueue is what a scan of one queue finds in the file.
type fileQueue struct {
	rows, ready     int
	bytes, rbytes   int64
	oldest          uint64
	markers, maxKey uint64
}

func (s *Spool) checkState(tx *bolt.Tx) []error {
	var errs []error
	s.mu.Lock()
	defer s.mu.Unlock()
	var used int64
	inflight := 0
	for q, qs := range s.st.queues {
		fq, qerrs := scanQueue(tx, q, qs)
		errs = append(errs, qerrs...)
		errs = append(errs, compareQueue(q, qs, fq)...)
		used += fq.bytes
		inflight += len(qs.taken)
	}
	errs = append(errs, s.checkTotals(tx, used, inflight)...)
	return errs
}

// scanQueue reads q's rows and markers from the file.
func scanQueue(tx *bolt.Tx, q QueueKey, qs *queueState) (fileQueue, []error) {
	var fq fileQueue
	var errs []error
	qb := tx.Bucket(bucketQueues).Bucket(queueName(q))
	if qb == nil {
		return fq, []error{fmt.Errorf("queue %s: in memory, no bucket", q)}
	}
	_ = qb.ForEach(func(k, v []byte) error {
		seq, size := keySeq(k), int64(len(rowData(v)))
		fq.rows++
		fq.bytes += size
		fq.maxKey = max(fq.maxKey, seq)
		if _, taken := qs.taken[seq]; !taken {
			fq.ready++
			fq.rbytes += size
			if fq.oldest == 0 {
				fq.oldest = seq
			}
		}
		return nil
	})
	if fq.maxKey > qb.Sequence() {
		errs = append(errs, fmt.Errorf("queue %s: key %d above bucket sequence %d", q, fq.maxKey, qb.Sequence()))
	}
	if ib := tx.Bucket(bucketInflight).Bucket(queueName(q)); ib != nil {
		_ = ib.ForEach(func(k, _ []byte) error {
			fq.markers++
			if _, taken := qs.taken[keySeq(k)]; !taken {
				errs = append(errs, fmt.Errorf("queue %s: marker %d not in the in-flight set", q, keySeq(k)))
			}
			if qb.Get(k) == nil {
				errs = append(errs, fmt.Errorf("queue %s: marker %d without a row", q, keySeq(k)))
			}
			return nil
		})
	}
	return fq, errs
}

func compareQueue(q QueueKey, qs *queueState, fq fileQueue) []error {
	var errs []error
	bad := func(what string, mem, file any) {
		errs = append(errs, fmt.Errorf("queue %s: %s: memory %v, file %v", q, what, mem, file))
	}
	if qs.ready != fq.ready {
		bad("ready rows", qs.ready, fq.ready)
	}
	if qs.readyBytes != fq.rbytes {
		bad("ready bytes", qs.readyBytes, fq.rbytes)
	}
	if qs.oldestSeq != fq.oldest {
		bad("oldest ready seq", qs.oldestSeq, fq.oldest)
	}
	if uint64(len(qs.taken)) != fq.markers {
		bad("in-flight rows", len(qs.taken), fq.markers)
	}
	if qs.ready+len(qs.taken) != fq.rows {
		bad("ready+in-flight rows", qs.ready+len(qs.taken), fq.rows)
	}
	return errs
}

// checkTotals compares spool-wide counters and looks for queues the memory does not know.
func (s *Spool) checkTotals(tx *bolt.Tx, used int64, inflight int) []error {
	var errs []error
	if s.st.used != used {
		errs = append(errs, fmt.Errorf("capped bytes: memory %d, file %d", s.st.used, used))
	}
	if s.st.inflight != inflight {
		errs = append(errs, fmt.Errorf("in-flight count %d, in-flight set %d", s.st.inflight, inflight))
	}
	var dead int
	var deadBytes int64
	_ = tx.Bucket(bucketDead).ForEach(func(_, v []byte) error {
		dead++
		deadBytes += int64(len(v))
		return nil
	})
	if dead != s.st.dead || deadBytes != s.st.deadBytes {
		errs = append(errs, fmt.Errorf("dead letters: memory %d (%d bytes), file %d (%d bytes)", s.st.dead, s.st.deadBytes, dead, deadBytes))
	}
	for _, top := range [][]byte{bucketQueues, bucketInflight} {
		_ = tx.Bucket(top).ForEachBucket(func(name []byte) error {
			if q, ok := parseQueueName(name); !ok || s.st.queues[q] == nil {
				errs = append(errs, fmt.Errorf("%s/%q: queue unknown to memory", top, name))
			}
			return nil
		})
	}
	return errs
}

package spool

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// load creates missing buckets, re-queues rows left in flight and rebuilds the in-memory state:
// from the clean-shutdown marker when the file has one that is current (a few page reads), from
// estimates when the check is deferred (a few page reads; runCheck replaces them), otherwise by
// scanning every row. A read-only spool writes nothing: rows in flight count as ready, as the
// next Open would make them.
func (s *Spool) load(how openHow) error {
	return protect(func() error {
		var requeued int
		if !s.opts.ReadOnly {
			err := s.db.Update(func(tx *bolt.Tx) error {
				for _, name := range topBuckets {
					if _, err := tx.CreateBucketIfNotExists(name); err != nil {
						return err
					}
				}
				n, err := requeueInflight(tx, tx.Bucket(bucketSys))
				if err != nil {
					return err
				}
				requeued = n
				return addU64(tx.Bucket(bucketSys), keyRequeued, uint64(n))
			})
			if err != nil {
				return fmt.Errorf("spool: open %s: re-queue in-flight rows: %w", s.path, s.classifyWrite(err))
			}
		}
		if requeued > 0 {
			s.log.Warn("spool: re-queued rows that were in flight when the previous process stopped; Power BI may receive them twice",
				"rows", requeued)
		}
		if how.deferred {
			return s.loadDeferred(how.sum)
		}
		var st state
		err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			if how.clean != nil {
				st, err = stateFromClean(tx, how.clean)
			} else {
				st, err = scanState(context.Background(), tx)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("spool: open %s: %w", s.path, err)
		}
		s.setState(st)
		return nil
	})
}

// setState installs st as the in-memory state, keeping what belongs to the process rather than
// the file: the quarantine count, and the bytes of Appends admitted and not yet committed.
func (s *Spool) setState(st state) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.quarant, st.compacts = s.st.quarant, s.st.compacts
	st.reserved, st.diskReserved = s.st.reserved, s.st.diskReserved
	st.lowDiskSince, st.lowDiskEvents, st.failAvail = s.st.lowDiskSince, s.st.lowDiskEvents, s.st.failAvail
	s.st = st
}

// requeueInflight drops every in-flight marker (whole buckets: no cursor deletes) and returns
// how many markers still pointed at a row; it adds each queue's count to its counter in sys.
func requeueInflight(tx *bolt.Tx, sys *bolt.Bucket) (int, error) {
	inf, queues := tx.Bucket(bucketInflight), tx.Bucket(bucketQueues)
	var names [][]byte
	n := 0
	err := inf.ForEachBucket(func(name []byte) error {
		names = append(names, append([]byte(nil), name...))
		qb := queues.Bucket(name)
		nq := 0
		err := inf.Bucket(name).ForEach(func(k, _ []byte) error {
			if qb != nil && qb.Get(k) != nil {
				nq++
			}
			return nil
		})
		n += nq
		if err != nil {
			return err
		}
		return addU64(sys, []byte(keyRequeuedQ+string(name)), uint64(nq))
	})
	if err != nil {
		return 0, err
	}
	for _, name := range names {
		if err := inf.DeleteBucket(name); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// scanState rebuilds the in-memory state from every row and dead letter in the file. Rows in
// flight count as ready: Open re-queues them.
func scanState(ctx context.Context, tx *bolt.Tx) (state, error) {
	st := newState()
	if err := scanQueues(ctx, tx, &st); err != nil {
		return st, err
	}
	if sys := tx.Bucket(bucketSys); sys != nil {
		readSysCounters(sys, &st)
	}
	dead := tx.Bucket(bucketDead)
	if dead == nil {
		return st, nil
	}
	err := dead.ForEach(func(_, v []byte) error {
		if st.dead%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		st.dead++
		st.deadBytes += int64(len(v))
		return nil
	})
	return st, err
}

// readSysCounters reads the spool-wide counters kept in the sys bucket.
func readSysCounters(sys *bolt.Bucket, st *state) {
	st.dropped = int64(getU64(sys.Get(keyDropped)))
	st.requeued = int64(getU64(sys.Get(keyRequeued)))
	st.deadEvicted = int64(getU64(sys.Get(keyDeadEvicted)))
}

func scanQueues(ctx context.Context, tx *bolt.Tx, st *state) error {
	queues, sys := tx.Bucket(bucketQueues), tx.Bucket(bucketSys)
	if queues == nil {
		return nil
	}
	return queues.ForEachBucket(func(name []byte) error {
		q, ok := parseQueueName(name)
		if !ok {
			return fmt.Errorf("queue bucket %q: bad name", name)
		}
		qs := st.queue(q)
		if sys != nil {
			qs.delivered = int64(getU64(sys.Get([]byte(keyDelivered + string(name)))))
			qs.requeued = int64(getU64(sys.Get([]byte(keyRequeuedQ + string(name)))))
		}
		qb := queues.Bucket(name)
		top := qb.Sequence()
		n := 0
		return qb.ForEach(func(k, v []byte) error {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if len(k) != 8 || v == nil || keySeq(k) > top || len(v) < tsLen {
				return fmt.Errorf("%w: queue %s: row key %x is not one the spool wrote", errCorrupt, q, k)
			}
			size := int64(len(rowData(v)))
			qs.addReady(1, size, keySeq(k), rowAt(v))
			st.used += size
			return nil
		})
	})
}

// addU64 adds d to the counter stored at key.
func addU64(b *bolt.Bucket, key []byte, d uint64) error {
	if d == 0 {
		return nil
	}
	return b.Put(key, u64(getU64(b.Get(key))+d))
}

package spool

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DeadLetters lists dead letters, oldest first (up to limit; 0 = all).
func (s *Spool) DeadLetters(limit int) ([]DeadLetter, error) {
	s.dbmu.RLock()
	defer s.dbmu.RUnlock()
	if s.db == nil {
		return nil, ErrClosed
	}
	var out []DeadLetter
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDead).Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			d, err := decodeDead(k, v)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("spool: dead letters: %w", err)
	}
	return out, nil
}

// Replay moves dead letters with the given ids (all if ids is empty) back to the end of their
// queues, in one transaction, and returns how many moved. Unknown ids are an error (nothing
// moves). Dead letters without a queue (input that never reached a table) cannot be replayed:
// with explicit ids that is an error, with "all" they are skipped and stay. Replay ignores
// MaxBytes: the user asked for it.
func (s *Spool) Replay(ids []uint64) (int, error) {
	return s.replay(func(tx *bolt.Tx) ([]DeadLetter, error) { return pickDead(tx, ids) })
}

// replay moves the dead letters pick chooses (inside the write transaction) back to their queues.
func (s *Spool) replay(pick func(tx *bolt.Tx) ([]DeadLetter, error)) (int, error) {
	unlock, err := s.lockWrite()
	if err != nil {
		return 0, err
	}
	defer unlock()
	var eff effects
	var n int
	at := s.now()
	err = s.update(func(tx *bolt.Tx) error {
		eff = effects{rows: map[QueueKey]*appended{}}
		picked, err := pick(tx)
		if err != nil {
			return err
		}
		n = len(picked)
		return replayDead(tx, picked, at, &eff)
	})
	if err != nil {
		return 0, fmt.Errorf("spool: replay: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyEffects(eff)
	for q := range eff.rows {
		if s.fanouts[q] != nil {
			_ = s.rescanLocked(q) // a replayed row is ready again for its destination only
		}
	}
	return n, nil
}

// pickDead decodes the dead letters to replay.
func pickDead(tx *bolt.Tx, ids []uint64) ([]DeadLetter, error) {
	b := tx.Bucket(bucketDead)
	var out []DeadLetter
	if len(ids) == 0 {
		err := b.ForEach(func(k, v []byte) error {
			d, err := decodeDead(k, v)
			if err == nil && d.Queue.Dataset != "" && d.Queue.Table != "" {
				out = append(out, d)
			}
			return err
		})
		return out, err
	}
	seen := map[uint64]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		v := b.Get(seqKey(id))
		if v == nil {
			return nil, fmt.Errorf("dead letter %d: not found", id)
		}
		d, err := decodeDead(seqKey(id), v)
		if err != nil {
			return nil, err
		}
		if d.Queue.Dataset == "" || d.Queue.Table == "" {
			return nil, fmt.Errorf("dead letter %d: has no queue (input that never reached a table)", id)
		}
		out = append(out, d)
	}
	return out, nil
}

// replayDead appends each dead letter's data to its queue and deletes the dead letter.
func replayDead(tx *bolt.Tx, ds []DeadLetter, at time.Time, eff *effects) error {
	dead := tx.Bucket(bucketDead)
	for _, d := range ds {
		if err := putRows(tx, d.Queue, [][]byte{d.Data}, at, eff); err != nil {
			return err
		}
		if err := markOthersDone(tx, d); err != nil {
			return err
		}
	}
	for _, d := range ds {
		k := seqKey(d.ID)
		eff.dead--
		eff.deadBytes -= int64(len(dead.Get(k)))
		if err := dead.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

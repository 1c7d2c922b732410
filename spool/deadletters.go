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
		n, err = replayDead(tx, picked, at, &eff, s.opts.Remap)
		return err
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

// replayDead appends each dead letter's row to its queue (a source-format one mapped by remap;
// one that still fails stays, with its new reason) and deletes it; it returns how many moved.
func replayDead(tx *bolt.Tx, ds []DeadLetter, at time.Time, eff *effects, remap Remapper) (int, error) {
	dead := tx.Bucket(bucketDead)
	var moved []DeadLetter
	for _, d := range ds {
		row := d.Data
		if d.Format != "" {
			if remap == nil {
				continue // not a row: stays until replayed with the schema
			}
			var err error
			if row, err = remap(d); err != nil {
				if err := restateDead(dead, d, err.Error(), eff); err != nil {
					return 0, err
				}
				continue
			}
		}
		if err := putRowsPos(tx, d.Queue, [][]byte{row}, []string{d.Position}, at, eff); err != nil {
			return 0, err
		}
		if err := markOthersDone(tx, d); err != nil {
			return 0, err
		}
		moved = append(moved, d)
	}
	for _, d := range moved {
		k := seqKey(d.ID)
		eff.dead--
		eff.deadBytes -= int64(len(dead.Get(k)))
		if err := dead.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(moved), nil
}

// restateDead keeps a dead letter that still fails, in place (same id and position), with the
// new reason.
func restateDead(dead *bolt.Bucket, d DeadLetter, reason string, eff *effects) error {
	k := seqKey(d.ID)
	old := int64(len(dead.Get(k)))
	d.Reason = reason
	v, err := encodeDead(d)
	if err != nil {
		return fmt.Errorf("dead letter %d: %w", d.ID, err)
	}
	eff.deadBytes += int64(len(v)) - old
	return dead.Put(k, v)
}

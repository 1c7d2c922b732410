package spool

import (
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DeadFilter selects dead letters: by ids, or by table, reason and time. The zero value selects
// every dead letter.
type DeadFilter struct {
	IDs     []uint64 // only these ids (with the other conditions); nil = any
	Dataset string   // "" = any
	Table   string   // "" = any
	Reason  string   // case-insensitive substring of the reason; "" = any
	Since   time.Time
	Until   time.Time // dead-lettered at or after Since and before Until; zero = unbounded
	After   uint64    // paging: only ids greater than After
	Limit   int       // at most Limit (0 = all)
}

// Match reports whether d passes every condition but After and Limit.
func (f DeadFilter) Match(d DeadLetter) bool {
	switch {
	case f.IDs != nil && !slices.Contains(f.IDs, d.ID),
		f.Dataset != "" && d.Queue.Dataset != f.Dataset,
		f.Table != "" && d.Queue.Table != f.Table,
		f.Reason != "" && !strings.Contains(strings.ToLower(d.Reason), strings.ToLower(f.Reason)),
		!f.Since.IsZero() && d.At.Before(f.Since),
		!f.Until.IsZero() && !d.At.Before(f.Until):
		return false
	}
	return true
}

// FindDeadLetters returns the dead letters f selects, oldest first, and whether more match after
// the last one returned (ask again with After set to its ID).
func (s *Spool) FindDeadLetters(f DeadFilter) ([]DeadLetter, bool, error) {
	s.dbmu.RLock()
	defer s.dbmu.RUnlock()
	if s.db == nil {
		return nil, false, ErrClosed
	}
	var out []DeadLetter
	more := false
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		out, more, err = matchDead(tx, f)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("spool: dead letters: %w", err)
	}
	return out, more, nil
}

// matchDead scans the dead-letter bucket from f.After for f's matches.
func matchDead(tx *bolt.Tx, f DeadFilter) ([]DeadLetter, bool, error) {
	var out []DeadLetter
	c := tx.Bucket(bucketDead).Cursor()
	for k, v := c.Seek(seqKey(f.After + 1)); k != nil; k, v = c.Next() {
		d, err := decodeDead(k, v)
		if err != nil {
			return nil, false, err
		}
		if !f.Match(d) {
			continue
		}
		if f.Limit > 0 && len(out) == f.Limit {
			return out, true, nil
		}
		out = append(out, d)
	}
	return out, false, nil
}

// checkIDs fails when an id f names is not a dead letter (nothing is changed then).
func checkIDs(tx *bolt.Tx, f DeadFilter) error {
	b := tx.Bucket(bucketDead)
	for _, id := range f.IDs {
		if b.Get(seqKey(id)) == nil {
			return fmt.Errorf("dead letter %d: not found", id)
		}
	}
	return nil
}

// ReplayDeadLetters moves the dead letters f selects (f.After and f.Limit ignored) back to the
// end of their queues in one transaction, as Replay does, and returns how many moved. Dead
// letters without a queue are skipped (with explicit ids they are an error, as is an unknown id).
func (s *Spool) ReplayDeadLetters(f DeadFilter) (int, error) {
	f.After, f.Limit = 0, 0
	return s.replay(func(tx *bolt.Tx) ([]DeadLetter, error) {
		if err := checkIDs(tx, f); err != nil {
			return nil, err
		}
		all, _, err := matchDead(tx, f)
		if err != nil {
			return nil, err
		}
		out := all[:0]
		for _, d := range all {
			switch {
			case d.Queue.Dataset != "" && d.Queue.Table != "":
				out = append(out, d)
			case f.IDs != nil:
				return nil, fmt.Errorf("dead letter %d: has no queue (input that never reached a table)", d.ID)
			}
		}
		return out, nil
	})
}

// PurgeDeadLetters deletes the dead letters f selects (f.After and f.Limit ignored) in one
// transaction and returns how many it deleted. An unknown id is an error (nothing is deleted).
func (s *Spool) PurgeDeadLetters(f DeadFilter) (int, error) {
	f.After, f.Limit = 0, 0
	unlock, err := s.lockWrite()
	if err != nil {
		return 0, err
	}
	defer unlock()
	var eff effects
	err = s.update(func(tx *bolt.Tx) error {
		eff = effects{}
		if err := checkIDs(tx, f); err != nil {
			return err
		}
		picked, _, err := matchDead(tx, f)
		if err != nil {
			return err
		}
		b := tx.Bucket(bucketDead)
		for _, d := range picked {
			k := seqKey(d.ID)
			eff.dead--
			eff.deadBytes -= int64(len(b.Get(k)))
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("spool: purge dead letters: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyDead(eff)
	return -eff.dead, nil
}

// InFlight returns how many rows of q are taken and not yet answered.
func (s *Spool) InFlight(q QueueKey) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if qs := s.st.queues[q]; qs != nil {
		return len(qs.taken)
	}
	return 0
}

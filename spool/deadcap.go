package spool

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// keyDeadEvicted counts dead letters evicted by the dead-letter cap (sys bucket).
var keyDeadEvicted = []byte("dead_evicted")

// evictDead deletes the oldest dead letters while the dead-letter bytes (with what eff adds)
// exceed Options.MaxDeadBytes, and counts them in the file. Dead letters have a cap of their
// own, not MaxBytes: a flood of bad input must never block good rows, and must not fill the
// disk either. Holds wmu.
func (s *Spool) evictDead(tx *bolt.Tx, eff *effects) error {
	over := s.st.deadBytes + eff.deadBytes - s.opts.MaxDeadBytes
	if over <= 0 || s.checking() { // never evict on estimates (bgcheck.go)
		return nil
	}
	b := tx.Bucket(bucketDead)
	var keys [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil && over > 0; k, v = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
		over -= int64(len(v))
		eff.deadBytes -= int64(len(v))
	}
	for _, k := range keys { // collect first, then delete (bbolt's cursor-delete bug)
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	eff.dead -= len(keys)
	eff.evicted += len(keys)
	return addU64(tx.Bucket(bucketSys), keyDeadEvicted, uint64(len(keys)))
}

// applyDead mirrors dead-letter changes in memory and logs evictions (at most once a minute).
// Holds wmu and mu.
func (s *Spool) applyDead(eff effects) {
	s.st.dead += eff.dead
	s.st.deadBytes += eff.deadBytes
	if eff.evicted == 0 {
		return
	}
	s.st.deadEvicted += int64(eff.evicted)
	if now := s.now(); now.Sub(s.st.evictLogged) >= time.Minute {
		s.st.evictLogged = now
		s.log.Warn("spool: dead letters over spool.dead_letter_max_bytes: oldest evicted; logged at most once a minute",
			"evicted", eff.evicted, "evicted_total", s.st.deadEvicted, "max_bytes", s.opts.MaxDeadBytes)
	}
}

package spool

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// dropped is what drop_oldest removed from one queue.
type dropped struct {
	q         QueueKey
	n         int
	bytes     int64
	nextSeq   uint64 // new oldest ready row, 0 if none
	nextAt    time.Time
	collected [][]byte
}

// head walks one queue's ready rows, oldest first, skipping rows in flight.
type head struct {
	qs   *queueState
	c    *bolt.Cursor
	k, v []byte
	d    *dropped
}

func (h *head) skipTaken() {
	for h.k != nil {
		if _, taken := h.qs.taken[keySeq(h.k)]; !taken {
			return
		}
		h.k, h.v = h.c.Next()
	}
}

// makeRoom (drop_oldest only) deletes the oldest ready rows, across queues by append time, until
// incoming bytes fit under MaxBytes. In-flight rows are never dropped, so when everything left is
// in flight the spool goes over the cap by at most the in-flight rows. Holds wmu.
func (s *Spool) makeRoom(tx *bolt.Tx, incoming int64, eff *effects) error {
	over := s.st.used + incoming - s.opts.MaxBytes
	if s.opts.WhenFull != WhenFullDropOldest || over <= 0 || s.checking() { // never drop on estimates
		return nil
	}
	all := s.heads(tx)
	live := append([]*head(nil), all...)
	for over > 0 && len(live) > 0 {
		i := oldestHead(live)
		over -= live[i].drop()
		if live[i].k == nil {
			live = append(live[:i], live[i+1:]...)
		}
	}
	return finishDrops(tx, all, eff)
}

// drop collects the head row for deletion, advances to the next ready row and returns the
// dropped row's size.
func (h *head) drop() int64 {
	size := int64(len(rowData(h.v)))
	h.d.collected = append(h.d.collected, append([]byte(nil), h.k...))
	h.d.n++
	h.d.bytes += size
	h.k, h.v = h.c.Next()
	h.skipTaken()
	return size
}

// finishDrops deletes the collected keys (after the walks: bbolt's cursor-delete bug) and
// records the effects.
func finishDrops(tx *bolt.Tx, hs []*head, eff *effects) error {
	queues := tx.Bucket(bucketQueues)
	var total uint64
	for _, h := range hs {
		if h.d.n == 0 {
			continue
		}
		if h.k != nil {
			h.d.nextSeq, h.d.nextAt = keySeq(h.k), rowAt(h.v)
		}
		qb := queues.Bucket(queueName(h.d.q))
		for _, k := range h.d.collected {
			if err := qb.Delete(k); err != nil {
				return err
			}
		}
		h.d.collected = nil
		total += uint64(h.d.n)
		eff.drops = append(eff.drops, *h.d)
	}
	return addU64(tx.Bucket(bucketSys), keyDropped, total)
}

// applyDrop mirrors a drop in memory. Holds wmu and mu.
func (s *Spool) applyDrop(d dropped) {
	qs := s.st.queue(d.q)
	qs.ready -= d.n
	qs.readyBytes -= d.bytes
	qs.oldestSeq, qs.oldestAt = d.nextSeq, d.nextAt
	s.st.used -= d.bytes
	s.st.dropped += int64(d.n)
	if now := s.now(); now.Sub(s.st.dropLogged) >= time.Minute {
		s.st.dropLogged = now
		s.log.Warn("spool full: dropping oldest rows (when_full=drop_oldest); logged at most once a minute",
			"queue", d.q.String(), "rows", d.n, "dropped_total", s.st.dropped)
	}
}

// heads opens a walk on every queue that has ready rows.
func (s *Spool) heads(tx *bolt.Tx) []*head {
	var hs []*head
	queues := tx.Bucket(bucketQueues)
	for q, qs := range s.st.queues {
		if qs.ready == 0 {
			continue
		}
		c := queues.Bucket(queueName(q)).Cursor()
		h := &head{qs: qs, c: c, d: &dropped{q: q}}
		h.k, h.v = c.Seek(seqKey(qs.oldestSeq))
		h.skipTaken()
		if h.k != nil {
			hs = append(hs, h)
		}
	}
	return hs
}

func oldestHead(hs []*head) int {
	best := 0
	for i, h := range hs {
		if rowAt(h.v).Before(rowAt(hs[best].v)) {
			best = i
		}
	}
	return best
}

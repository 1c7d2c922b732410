package spool

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// appended is what one commit added to one queue.
type appended struct {
	n        int
	bytes    int64
	firstSeq uint64
	firstAt  time.Time
}

// effects is what a committed write transaction changes in memory.
type effects struct {
	rows      map[QueueKey]*appended
	dead      int   // dead letters added (negative: removed)
	deadBytes int64 // their stored bytes
	evicted   int   // dead letters evicted by the dead-letter cap
	drops     []dropped
}

// commitLoop gathers concurrent Appends into one transaction each (group commit).
func (s *Spool) commitLoop() {
	defer close(s.loopDone)
	for {
		select {
		case r := <-s.reqs:
			s.commitGroup(s.gather(r))
		case <-s.loopQuit:
			return
		}
	}
}

// gather takes r and every request already waiting, up to the group limits.
func (s *Spool) gather(r *appendReq) []*appendReq {
	group, bytes := []*appendReq{r}, r.bytes
	for len(group) < maxGroupReqs && bytes < maxGroupBytes {
		select {
		case r := <-s.reqs:
			group, bytes = append(group, r), bytes+r.bytes
		default:
			return group
		}
	}
	return group
}

// commitGroup commits group in one transaction; if that fails, each request alone, so one bad
// request cannot fail the others.
func (s *Spool) commitGroup(group []*appendReq) {
	unlock, err := s.lockWrite()
	if err == nil {
		defer unlock()
		err = s.commitReqs(group)
	}
	if err == nil || len(group) == 1 {
		for _, r := range group {
			s.reply(r, err)
		}
		return
	}
	for _, r := range group {
		s.reply(r, s.commitReqs([]*appendReq{r}))
	}
}

// reply ends r; a failed request gives its reservation back (a committed one moved it to used).
func (s *Spool) reply(r *appendReq, err error) {
	if err != nil {
		s.release(r.bytes, r.disk)
	}
	r.done <- err
}

// commitReqs writes reqs in one transaction and applies the result to memory. Holds wmu.
func (s *Spool) commitReqs(reqs []*appendReq) error {
	var eff effects
	var bytes, disk int64
	for _, r := range reqs {
		bytes += r.bytes
		disk += r.disk
	}
	at := s.now()
	err := s.update(func(tx *bolt.Tx) error {
		eff = effects{rows: map[QueueKey]*appended{}}
		if err := s.makeRoom(tx, bytes, &eff); err != nil {
			return err
		}
		for _, r := range reqs {
			if err := applyWrite(tx, r.w, at, &eff); err != nil {
				return fmt.Errorf("queue %s: %w", r.w.Queue, err)
			}
		}
		return s.evictDead(tx, &eff)
	})
	if err != nil {
		return fmt.Errorf("spool: append: %w", s.classifyWrite(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.reserved -= bytes // reserved → used in one step, so Full() never flickers
	s.st.diskReserved -= disk
	s.applyEffects(eff)
	return nil
}

// applyWrite puts one Write's rows, dead letters and checkpoints into tx.
func applyWrite(tx *bolt.Tx, w Write, at time.Time, eff *effects) error {
	if err := putRowsPos(tx, w.Queue, w.Rows, w.Positions, at, eff); err != nil {
		return err
	}
	for _, d := range w.DeadLetters {
		if d.At.IsZero() {
			d.At = at
		}
		if err := putDead(tx, d, eff); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	for k, v := range w.Checkpoints {
		if err := meta.Put([]byte(k), v); err != nil {
			return fmt.Errorf("checkpoint %q: %w", k, err)
		}
	}
	return nil
}

// putRows appends rows to q's bucket with fresh sequence keys.
func putRows(tx *bolt.Tx, q QueueKey, rows [][]byte, at time.Time, eff *effects) error {
	return putRowsPos(tx, q, rows, nil, at, eff)
}

// putRowsPos is putRows with each row's source position (positions nil: none).
func putRowsPos(tx *bolt.Tx, q QueueKey, rows [][]byte, positions []string, at time.Time, eff *effects) error {
	if len(rows) == 0 {
		return nil
	}
	qb, err := tx.Bucket(bucketQueues).CreateBucketIfNotExists(queueName(q))
	if err != nil {
		return err
	}
	qb.FillPercent = 1.0 // keys only grow: pack pages full (not persisted, set in every tx)
	a := eff.rows[q]
	if a == nil {
		a = &appended{}
		eff.rows[q] = a
	}
	for i, row := range rows {
		seq, err := qb.NextSequence()
		if err != nil {
			return err
		}
		pos := ""
		if positions != nil {
			pos = positions[i]
		}
		if err := qb.Put(seqKey(seq), rowValuePos(at, pos, row)); err != nil {
			return err
		}
		if a.n == 0 {
			a.firstSeq, a.firstAt = seq, at
		}
		a.n++
		a.bytes += int64(len(row))
	}
	return nil
}

// deadRecord is a dead letter's stored form.
type deadRecord struct {
	Dataset     string `json:"dataset,omitempty"`
	Table       string `json:"table,omitempty"`
	Destination string `json:"destination,omitempty"`
	Data        []byte `json:"data"`
	Position    string `json:"position,omitempty"`
	Reason      string `json:"reason"`
	At          int64  `json:"at"` // unix nanoseconds
	// Format and Header: see DeadLetter (absent in dead letters of older versions).
	Format string   `json:"format,omitempty"`
	Header []string `json:"header,omitempty"`
}

// putDead stores d and counts it in eff.
func putDead(tx *bolt.Tx, d DeadLetter, eff *effects) error {
	b := tx.Bucket(bucketDead)
	b.FillPercent = 1.0
	id, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := encodeDead(d)
	if err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	eff.dead++
	eff.deadBytes += int64(len(v))
	return b.Put(seqKey(id), v)
}

func encodeDead(d DeadLetter) ([]byte, error) {
	return json.Marshal(deadRecord{Dataset: d.Queue.Dataset, Table: d.Queue.Table, Destination: d.Destination, Data: d.Data,
		Position: d.Position, Reason: d.Reason, At: d.At.UnixNano(), Format: d.Format, Header: d.Header})
}

func decodeDead(k, v []byte) (DeadLetter, error) {
	var r deadRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", keySeq(k), err)
	}
	return DeadLetter{ID: keySeq(k), Queue: QueueKey{Dataset: r.Dataset, Table: r.Table}, Destination: r.Destination, Data: r.Data,
		Position: r.Position, Reason: r.Reason, At: time.Unix(0, r.At).UTC(), Format: r.Format, Header: r.Header}, nil
}

// applyEffects mirrors a committed transaction in memory. Holds wmu and mu.
func (s *Spool) applyEffects(eff effects) {
	for _, d := range eff.drops {
		s.applyDrop(d)
		if s.fanouts[d.q] != nil {
			_ = s.rescanLocked(d.q)
		}
	}
	added := false
	for q, a := range eff.rows {
		s.st.queue(q).addReady(a.n, a.bytes, a.firstSeq, a.firstAt)
		s.destAppended(q, a)
		s.st.used += a.bytes
		added = true
	}
	s.applyDead(eff)
	if added {
		s.signal()
	}
}

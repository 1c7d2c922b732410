package spool

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PowerBI is the destination name of a table's Power BI dataset.
const PowerBI = "powerbi"

// Destinations: a queue (a table) is delivered to one or more named destinations. Rows are
// spooled once; each destination has its own cursor, in-flight set, acks, dead letters and
// delivered count, and a row leaves the file once every destination of its queue has acked or
// dead-lettered it. So a destination that is down delays only itself.
//
// A queue delivered to Power BI alone (the default, and every file written before destinations
// existed) keeps the plain layout: Take/Ack/Nack/Reject on the Spool. Any other set of
// destinations adds, in the dests/ bucket:
//
//	dests/
//	├── "set" 0x00 <dataset> 0x00 <table>              → JSON list of the queue's destinations
//	└── "done" 0x00 <dest> 0x00 <dataset> 0x00 <table>/ rows this destination acked or
//	    └── seq → {}                                    dead-lettered while another still needs them
//
// and sys/"delivered" 0x00 <queue> 0x00 <dest> counts a destination's acked rows (Power BI keeps
// the plain key). Rows a destination has in flight are held in memory only: after a crash they
// are ready again for that destination (sent again, like Power BI's re-queued rows).
//
// In memory a destination keeps a cursor (the first row it has not done: every row before it is
// done) and the few done rows after it (acks out of order), so memory does not grow with the
// lag between destinations.
var bucketDests = []byte("dests")

// destState is one destination's view of one queue.
type destState struct {
	cursor     uint64              // first row not done by this destination; 0 = none
	above      map[uint64]struct{} // done rows after cursor
	ready      int
	readyBytes int64
	oldestSeq  uint64 // first ready row, 0 if none
	oldestAt   time.Time
	taken      map[uint64]takenRow
	delivered  int64
}

// fanout is the destinations of one queue that is not delivered to Power BI alone.
type fanout struct {
	names []string
	dests map[string]*destState
}

// dest returns the state of destination name (nil when f is nil or name is not one of them).
func (f *fanout) dest(name string) *destState {
	if f == nil {
		return nil
	}
	return f.dests[name]
}

func (st *destState) done(seq uint64) bool {
	if st.cursor == 0 || seq < st.cursor {
		return true
	}
	_, ok := st.above[seq]
	return ok
}

func destSetKey(q QueueKey) []byte { return append([]byte("set\x00"), queueName(q)...) }

func doneBucketName(dest string, q QueueKey) []byte {
	return append([]byte("done\x00"+dest+"\x00"), queueName(q)...)
}

func destDeliveredKey(dest string, q QueueKey) []byte {
	if dest == PowerBI {
		return []byte(keyDelivered + string(queueName(q)))
	}
	return []byte(keyDelivered + string(queueName(q)) + "\x00" + dest)
}

// plain reports whether names is the default: Power BI alone.
func plain(names []string) bool { return len(names) == 1 && names[0] == PowerBI }

// SetDestinations declares q's destinations (at start, before any Take of q) and persists
// them. Rows already spooled are kept for every destination that has not done them; a
// destination added later starts with the rows still in the spool. Rows every destination has
// done are deleted now (a destination was removed). Names must be unique, non-empty and free of
// NUL.
func (s *Spool) SetDestinations(q QueueKey, names []string) error {
	if err := checkDestNames(q, names); err != nil {
		return err
	}
	unlock, err := s.lockWrite()
	if err != nil {
		return err
	}
	defer unlock()
	var f *fanout
	var gone []uint64
	err = s.update(func(tx *bolt.Tx) error {
		var err error
		f, gone, err = registerTx(tx, q, names)
		return err
	})
	if err != nil {
		return fmt.Errorf("spool: destinations of %s: %w", q, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fanouts == nil {
		s.fanouts = map[QueueKey]*fanout{}
	}
	if f == nil {
		delete(s.fanouts, q)
	} else {
		s.fanouts[q] = f
	}
	if len(gone) > 0 {
		return s.rescanLocked(q)
	}
	return nil
}

func checkDestNames(q QueueKey, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("spool: destinations of %s: none given", q)
	}
	for i, n := range names {
		if n == "" || strings.ContainsRune(n, 0) || slices.Contains(names[:i], n) {
			return fmt.Errorf("spool: destinations of %s: bad or duplicate name %q", q, n)
		}
	}
	return nil
}

// registerTx stores names, drops what removed destinations left, deletes rows every destination
// has done and, unless names is plain, builds the fanout from the file.
func registerTx(tx *bolt.Tx, q QueueKey, names []string) (*fanout, []uint64, error) {
	db, err := tx.CreateBucketIfNotExists(bucketDests)
	if err != nil {
		return nil, nil, err
	}
	old := storedDests(db, q)
	qb := tx.Bucket(bucketQueues).Bucket(queueName(q))
	var gone []uint64
	if qb != nil && len(old) > 0 {
		if gone, err = deleteDoneByAll(db, qb, q, names); err != nil {
			return nil, nil, err
		}
	}
	for _, d := range old {
		if !slices.Contains(names, d) || plain(names) {
			if db.Bucket(doneBucketName(d, q)) != nil {
				if err := db.DeleteBucket(doneBucketName(d, q)); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	if plain(names) {
		return nil, gone, db.Delete(destSetKey(q))
	}
	raw, _ := json.Marshal(names)
	if err := db.Put(destSetKey(q), raw); err != nil {
		return nil, nil, err
	}
	f := &fanout{names: slices.Clone(names), dests: map[string]*destState{}}
	sys := tx.Bucket(bucketSys)
	for _, d := range names {
		if _, err := db.CreateBucketIfNotExists(doneBucketName(d, q)); err != nil {
			return nil, nil, err
		}
		st := scanDest(qb, db.Bucket(doneBucketName(d, q)))
		st.delivered = int64(getU64(sys.Get(destDeliveredKey(d, q))))
		f.dests[d] = st
	}
	return f, gone, nil
}

// storedDests reads the destinations stored for q (nil: plain).
func storedDests(db *bolt.Bucket, q QueueKey) []string {
	var names []string
	if raw := db.Get(destSetKey(q)); raw != nil {
		_ = json.Unmarshal(raw, &names)
	}
	return names
}

// deleteDoneByAll deletes the rows every destination in names has done (their markers too).
func deleteDoneByAll(db, qb *bolt.Bucket, q QueueKey, names []string) ([]uint64, error) {
	var gone [][]byte
	err := qb.ForEach(func(k, _ []byte) error {
		for _, d := range names {
			b := db.Bucket(doneBucketName(d, q))
			if b == nil || b.Get(k) == nil {
				return nil
			}
		}
		gone = append(gone, append([]byte(nil), k...))
		return nil
	})
	if err != nil {
		return nil, err
	}
	seqs := make([]uint64, 0, len(gone))
	for _, k := range gone {
		if err := qb.Delete(k); err != nil {
			return nil, err
		}
		seqs = append(seqs, keySeq(k))
	}
	return seqs, nil
}

// scanDest builds a destination's state from the queue and its done markers: the cursor is the
// first row without a marker; later marked rows are "above"; everything else is ready.
func scanDest(qb, done *bolt.Bucket) *destState {
	st := &destState{above: map[uint64]struct{}{}, taken: map[uint64]takenRow{}}
	if qb == nil {
		return st
	}
	c := qb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq := keySeq(k)
		if done != nil && done.Get(k) != nil {
			if st.cursor != 0 {
				st.above[seq] = struct{}{}
			}
			continue
		}
		if st.cursor == 0 {
			st.cursor = seq
		}
		st.addReady(1, int64(len(rowData(v))), seq, rowAt(v))
	}
	return st
}

func (st *destState) addReady(n int, bytes int64, seq uint64, at time.Time) {
	if n == 0 {
		return
	}
	st.ready += n
	st.readyBytes += bytes
	if st.oldestSeq == 0 || seq < st.oldestSeq {
		st.oldestSeq, st.oldestAt = seq, at
	}
	if st.cursor == 0 || seq < st.cursor {
		st.cursor = seq
	}
}

// rescanLocked rebuilds q's plain counters and its destinations' states from the file, keeping
// what is in flight (after rows left the file other than by an answer: registration, drops,
// replays). Holds wmu and mu.
func (s *Spool) rescanLocked(q QueueKey) error {
	return s.view(func(tx *bolt.Tx) error {
		qb := tx.Bucket(bucketQueues).Bucket(queueName(q))
		qs := s.st.queue(q)
		s.forgetEstimate(q) // exact from here on
		s.st.used -= qs.readyBytes
		qs.ready, qs.readyBytes, qs.oldestSeq, qs.oldestAt = 0, 0, 0, time.Time{}
		if qb != nil {
			_ = qb.ForEach(func(k, v []byte) error {
				if _, taken := qs.taken[keySeq(k)]; !taken {
					size := int64(len(rowData(v)))
					qs.addReady(1, size, keySeq(k), rowAt(v))
					s.st.used += size
				}
				return nil
			})
		}
		f := s.fanouts[q]
		if f == nil {
			return nil
		}
		db := tx.Bucket(bucketDests)
		for _, d := range f.names {
			old := f.dests[d]
			st := scanDest(qb, db.Bucket(doneBucketName(d, q)))
			st.delivered, st.taken = old.delivered, old.taken
			for seq, t := range st.taken {
				if st.oldestSeq == seq {
					st.oldestSeq = 0 // recomputed below
				}
				if qb != nil && qb.Get(seqKey(seq)) != nil {
					st.ready--
					st.readyBytes -= int64(t.size)
				}
			}
			if st.oldestSeq == 0 {
				st.oldestSeq, st.oldestAt = firstReady(qb, st)
			}
			f.dests[d] = st
		}
		return nil
	})
}

// firstReady finds the first row of qb that st has neither done nor in flight.
func firstReady(qb *bolt.Bucket, st *destState) (uint64, time.Time) {
	if qb == nil || st.cursor == 0 {
		return 0, time.Time{}
	}
	c := qb.Cursor()
	for k, v := c.Seek(seqKey(st.cursor)); k != nil; k, v = c.Next() {
		seq := keySeq(k)
		if _, t := st.taken[seq]; t || st.done(seq) {
			continue
		}
		return seq, rowAt(v)
	}
	return 0, time.Time{}
}

// destAppended mirrors appended rows in q's destinations. Holds mu.
func (s *Spool) destAppended(q QueueKey, a *appended) {
	f := s.fanouts[q]
	if f == nil {
		return
	}
	for _, st := range f.dests {
		st.addReady(a.n, a.bytes, a.firstSeq, a.firstAt)
	}
}

// Destination is one destination's queue API over the spool: the same calls as the Spool's own
// (which serve Power BI on a plain queue), answered with this destination's cursor.
type Destination struct {
	s    *Spool
	name string
}

// Destination returns the named destination's view.
func (s *Spool) Destination(name string) *Destination { return &Destination{s: s, name: name} }

// Name returns the destination's name.
func (d *Destination) Name() string { return d.name }

// Notify is the spool's notification channel.
func (d *Destination) Notify() <-chan struct{} { return d.s.Notify() }

// state returns the destination's state of q (nil: plain queue, or not a destination of q).
// Holds mu.
func (d *Destination) state(q QueueKey) *destState {
	if f := d.s.fanouts[q]; f != nil {
		return f.dests[d.name]
	}
	return nil
}

// plainFor reports whether calls for q go to the Spool's own (Power BI, plain queue).
func (d *Destination) plainFor(q QueueKey) bool {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return d.s.fanouts[q] == nil && d.name == PowerBI
}

// Backlog returns q's rows ready for this destination.
func (d *Destination) Backlog(q QueueKey) Backlog {
	if d.plainFor(q) {
		return d.s.Backlog(q)
	}
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	st := d.state(q)
	if st == nil {
		return Backlog{}
	}
	b := Backlog{Rows: st.ready, Bytes: st.readyBytes}
	if st.ready > 0 {
		b.Oldest = st.oldestAt
	}
	return b
}

// InFlight returns how many rows of q this destination has taken and not answered.
func (d *Destination) InFlight(q QueueKey) int {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if st := d.state(q); st != nil {
		return len(st.taken)
	}
	if qs := d.s.st.queues[q]; qs != nil && d.name == PowerBI && d.s.fanouts[q] == nil {
		return len(qs.taken)
	}
	return 0
}

// Delivered returns how many rows of q this destination acked over the file's life.
func (d *Destination) Delivered(q QueueKey) int64 {
	if d.plainFor(q) {
		return d.s.Delivered(q)
	}
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if st := d.state(q); st != nil {
		return st.delivered
	}
	return 0
}

// Take marks up to maxRows of this destination's oldest ready rows of q (and at most maxBytes,
// but at least one row) in flight for it and returns them; nil when none are ready.
func (d *Destination) Take(q QueueKey, maxRows, maxBytes int) (*Batch, error) {
	if d.plainFor(q) {
		return d.s.Take(q, maxRows, maxBytes)
	}
	unlock, err := d.s.lockWrite()
	if err != nil {
		return nil, err
	}
	defer unlock()
	d.s.mu.Lock()
	st := d.state(q)
	d.s.mu.Unlock()
	if st == nil || st.ready == 0 {
		return nil, nil
	}
	b := &Batch{Queue: q}
	var next Row
	err = d.s.view(func(tx *bolt.Tx) error {
		qb := tx.Bucket(bucketQueues).Bucket(queueName(q))
		if qb == nil {
			return nil
		}
		c := qb.Cursor()
		k, v := c.Seek(seqKey(st.oldestSeq))
		for ; k != nil; k, v = c.Next() {
			seq := keySeq(k)
			if _, t := st.taken[seq]; t || st.done(seq) {
				continue
			}
			data := rowData(v)
			full := maxRows > 0 && len(b.Rows) >= maxRows
			if full || (maxBytes > 0 && len(b.Rows) > 0 && b.Bytes+len(data) > maxBytes) {
				next = Row{Seq: seq, At: rowAt(v)}
				break
			}
			b.Rows = append(b.Rows, Row{Seq: seq, Data: append([]byte(nil), data...), At: rowAt(v), Position: rowPos(v)})
			b.Bytes += len(data)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("spool: take from %s for %s: %w", q, d.name, err)
	}
	if len(b.Rows) == 0 {
		return nil, nil
	}
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	for _, r := range b.Rows {
		st.taken[r.Seq] = newTaken(len(r.Data), r.At)
	}
	st.ready -= len(b.Rows)
	st.readyBytes -= int64(b.Bytes)
	st.oldestSeq, st.oldestAt = next.Seq, next.At
	return b, nil
}

// Nack returns b's rows to this destination's ready rows, ahead of newer ones.
func (d *Destination) Nack(b *Batch) error {
	if b != nil && d.plainFor(b.Queue) {
		return d.s.Nack(b)
	}
	unlock, err := d.s.lockWrite()
	if err != nil {
		return err
	}
	defer unlock()
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	st, err := d.inflight(b, "nack")
	if err != nil {
		return err
	}
	for _, r := range b.Rows {
		t := st.taken[r.Seq]
		delete(st.taken, r.Seq)
		st.addReady(1, int64(t.size), r.Seq, t.when())
	}
	d.s.signal()
	return nil
}

// inflight checks that every row of b is in flight for this destination. Holds mu.
func (d *Destination) inflight(b *Batch, op string) (*destState, error) {
	if b == nil {
		return nil, fmt.Errorf("spool: %s: nil batch", op)
	}
	st := d.state(b.Queue)
	if st == nil {
		return nil, fmt.Errorf("spool: %s %s for %s: %w: not a destination of the queue", op, b.Queue, d.name, ErrNotInFlight)
	}
	seen := make(map[uint64]bool, len(b.Rows))
	for _, r := range b.Rows {
		if _, ok := st.taken[r.Seq]; !ok || seen[r.Seq] {
			return nil, fmt.Errorf("spool: %s %s for %s: %w: row %d", op, b.Queue, d.name, ErrNotInFlight, r.Seq)
		}
		seen[r.Seq] = true
	}
	return st, nil
}

// Ack records that this destination delivered b's rows; rows every destination has now done
// leave the file.
func (d *Destination) Ack(b *Batch) error {
	if b != nil && d.plainFor(b.Queue) {
		return d.s.Ack(b)
	}
	return d.finish(b, "ack", "")
}

// Reject dead-letters b's rows for this destination with reason (the other destinations still
// get them).
func (d *Destination) Reject(b *Batch, reason string) error {
	if b != nil && d.plainFor(b.Queue) {
		return d.s.Reject(b, reason)
	}
	if reason == "" {
		reason = "rejected"
	}
	return d.finish(b, "reject", reason)
}

// finish marks b's rows done for this destination (reason != "": as dead letters).
func (d *Destination) finish(b *Batch, op, reason string) error {
	s := d.s
	unlock, err := s.lockWrite()
	if err != nil {
		return err
	}
	defer unlock()
	s.mu.Lock()
	st, err := d.inflight(b, op)
	f := s.fanouts[b.Queue]
	s.mu.Unlock()
	if err != nil {
		return err
	}
	var res finishResult
	at := s.now()
	err = s.update(func(tx *bolt.Tx) error {
		var err error
		res, err = d.finishTx(tx, f, st, b, reason, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("spool: %s %s for %s: %w", op, b.Queue, d.name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d.applyFinish(f, st, b, res, reason != "")
	return nil
}

// finishResult is what finishTx changed.
type finishResult struct {
	deleted   map[uint64]int // rows that left the file → size
	cursor    uint64         // this destination's new cursor
	plainNext Row            // the queue's first row after the deletes
	dead      effects        // dead letters written (and evicted by the cap)
}

func (d *Destination) finishTx(tx *bolt.Tx, f *fanout, st *destState, b *Batch, reason string, at time.Time) (finishResult, error) {
	res := finishResult{deleted: map[uint64]int{}}
	q := b.Queue
	qb := tx.Bucket(bucketQueues).Bucket(queueName(q))
	db := tx.Bucket(bucketDests)
	mine := db.Bucket(doneBucketName(d.name, q))
	if qb == nil || mine == nil {
		return res, fmt.Errorf("missing bucket")
	}
	now := map[uint64]bool{}
	for _, r := range b.Rows {
		now[r.Seq] = true
		k := seqKey(r.Seq)
		v := qb.Get(k)
		if reason != "" && v != nil {
			dl := DeadLetter{Queue: q, Destination: d.name, Data: append([]byte(nil), rowData(v)...),
				Position: rowPos(v), Reason: reason, At: at}
			if err := putDead(tx, dl, &res.dead); err != nil {
				return res, err
			}
		}
		if v == nil {
			continue // dropped meanwhile (when_full=drop_oldest)
		}
		if !doneByOthers(f, d.name, r.Seq) {
			if err := mine.Put(k, []byte{}); err != nil {
				return res, err
			}
			continue
		}
		for _, o := range f.names {
			if o != d.name {
				if err := db.Bucket(doneBucketName(o, q)).Delete(k); err != nil {
					return res, err
				}
			}
		}
		res.deleted[r.Seq] = len(rowData(v))
		if err := qb.Delete(k); err != nil {
			return res, err
		}
	}
	if reason == "" {
		if err := addU64(tx.Bucket(bucketSys), destDeliveredKey(d.name, q), uint64(len(b.Rows))); err != nil {
			return res, err
		}
	} else if err := d.s.evictDead(tx, &res.dead); err != nil {
		return res, err
	}
	// Move the cursor past every row this destination has now done.
	c := qb.Cursor()
	k, _ := c.Seek(seqKey(st.cursor))
	for ; k != nil; k, _ = c.Next() {
		seq := keySeq(k)
		if _, above := st.above[seq]; !above && !now[seq] {
			break
		}
	}
	if k != nil {
		res.cursor = keySeq(k)
	}
	if k, v := qb.Cursor().First(); k != nil {
		res.plainNext = Row{Seq: keySeq(k), At: rowAt(v)}
	}
	return res, nil
}

// doneByOthers reports whether every destination but name has done seq. Reads state under the
// write lock (wmu): only writers change it.
func doneByOthers(f *fanout, name string, seq uint64) bool {
	for _, o := range f.names {
		if o != name && !f.dests[o].done(seq) {
			return false
		}
	}
	return true
}

// applyFinish mirrors finishTx in memory. Holds wmu and mu.
func (d *Destination) applyFinish(f *fanout, st *destState, b *Batch, res finishResult, dead bool) {
	s := d.s
	st.cursor = res.cursor
	for _, r := range b.Rows {
		delete(st.taken, r.Seq)
		if st.cursor != 0 && r.Seq > st.cursor {
			st.above[r.Seq] = struct{}{}
		}
	}
	for seq := range st.above {
		if st.cursor == 0 || seq < st.cursor {
			delete(st.above, seq)
		}
	}
	if dead {
		s.applyDead(res.dead)
	} else {
		st.delivered += int64(len(b.Rows))
	}
	if len(res.deleted) == 0 {
		return
	}
	qs := s.st.queue(b.Queue)
	for seq, size := range res.deleted {
		qs.ready--
		qs.readyBytes -= int64(size)
		s.st.used -= int64(size)
		for _, o := range f.names {
			delete(f.dests[o].above, seq)
		}
	}
	qs.oldestSeq, qs.oldestAt = res.plainNext.Seq, res.plainNext.At
	s.freedLocked()
}

// Destinations returns q's destinations as stored in the file ([powerbi] for a plain queue).
func (s *Spool) Destinations(q QueueKey) ([]string, error) {
	s.dbmu.RLock()
	defer s.dbmu.RUnlock()
	if s.db == nil {
		return nil, ErrClosed
	}
	var names []string
	err := s.view(func(tx *bolt.Tx) error {
		if db := tx.Bucket(bucketDests); db != nil {
			names = storedDests(db, q)
		}
		return nil
	})
	if len(names) == 0 {
		names = []string{PowerBI}
	}
	return names, err
}

// markOthersDone marks a replayed row (just appended) done for every destination of its queue
// but the one that dead-lettered it, so only that destination receives it again.
func markOthersDone(tx *bolt.Tx, d DeadLetter) error {
	db := tx.Bucket(bucketDests)
	if d.Destination == "" || db == nil {
		return nil
	}
	names := storedDests(db, d.Queue)
	if !slices.Contains(names, d.Destination) {
		return nil // the destination is gone or the queue is plain: every destination gets it
	}
	k := seqKey(tx.Bucket(bucketQueues).Bucket(queueName(d.Queue)).Sequence())
	for _, o := range names {
		if o == d.Destination {
			continue
		}
		b, err := db.CreateBucketIfNotExists(doneBucketName(o, d.Queue))
		if err != nil {
			return err
		}
		if err := b.Put(k, []byte{}); err != nil {
			return err
		}
	}
	return nil
}

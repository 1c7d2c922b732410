package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// After an unclean stop (no current clean-shutdown marker) a large file is not checked before
// Open returns: the structural check and the scan of every row take a second per few hundred
// MB read from disk, and delivery must not wait for them. Open instead
//
//   - checks with pread, before bbolt maps the file, the meta pages, the freelist (every id inside
//     the file, listed once) and every page bbolt reads while Open runs (summarize): the whole
//     tree except the inside of each queue, the dead letters and the destinations' done sets,
//     of which it reads the first and last root-to-leaf paths and the paths to rows in flight;
//   - re-queues the rows left in flight, as always;
//   - opens a read transaction (the snapshot) and estimates the state from those edges: the
//     oldest row of each queue exactly (what Take starts from), its rows as the span of its keys
//     (an upper bound), its bytes from the mean size of the rows read;
//   - and starts runCheck, which runs the full structural check on the snapshot's pages (pread;
//     bbolt reuses none of them while the snapshot is open) and scans its rows.
//
// Every change after the snapshot moves the counters by a delta (Append, Take, Ack, Nack, Reject,
// drops, dead letters), so when the scan ends, adding (scanned - estimated) per counter gives the
// exact state, whatever ran meanwhile. While the counts are estimates nothing is dropped
// (drop_oldest) or evicted (dead-letter cap) on their word and no clean-shutdown marker is
// written (the next start estimates and checks again). When the check finds damage, the file is
// moved aside (PATH.corrupt-<time>, logged once), delivery continues on a fresh file and the
// readable rows of the old one, acknowledged ones included, are salvaged into it.

// bgCheck is the deferred check of one Open.
type bgCheck struct {
	tx     *bolt.Tx  // the snapshot: the state estimated, checked and scanned
	pf     *pageFile // the file as of the snapshot, for the structural check
	est    estimate  // the estimated part of the counters; guarded like the state
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	took   chan struct{} // closed by the first Take: delivery has what it needs from the disk
	once   sync.Once
}

// checkDelay bounds how long the check waits for the first Take before it starts reading the
// whole file (its read-ahead queues the file on the disk: the first batch's few random reads
// would wait behind it).
const checkDelay = 2 * time.Second

// tookFirst tells the check that delivery has taken its first batch. Holds wmu or mu.
func (s *Spool) tookFirst() {
	if c := s.chk; c != nil {
		c.once.Do(func() { close(c.took) })
	}
}

// estimate is how much of the in-memory counters came from estimateState rather than the file.
type estimate struct {
	queues    map[QueueKey]estQueue
	dead      int
	deadBytes int64
}

type estQueue struct {
	rows  int
	bytes int64
}

// loadDeferred opens the snapshot, estimates the state from it and prepares runCheck.
// Runs inside load (under protect), before anyone else has s.
func (s *Spool) loadDeferred(sum *openSummary) error {
	tx, err := s.db.Begin(false)
	if err != nil {
		return fmt.Errorf("spool: open %s: %w", s.path, err)
	}
	kept := false
	defer func() { // on any failure, a panic included: Open closes the DB, which waits for tx
		if !kept {
			_ = tx.Rollback()
		}
	}()
	st, est, err := estimateState(tx, sum)
	if err != nil {
		return fmt.Errorf("spool: open %s: %w", s.path, err)
	}
	pf, err := openPageFile(s.path)
	if err == nil && pf == nil {
		err = errors.New("empty file")
	}
	if err == nil && pf.meta.txid != uint64(tx.ID()) {
		pf.close()
		err = fmt.Errorf("%w: %s: meta txid %d, snapshot %d", errCorrupt, s.path, pf.meta.txid, tx.ID())
	}
	if err != nil {
		return fmt.Errorf("spool: open %s: %w", s.path, err)
	}
	kept = true
	ctx, cancel := context.WithCancel(context.Background())
	s.chk = &bgCheck{tx: tx, pf: pf, est: est, start: time.Now(), ctx: ctx, cancel: cancel, done: make(chan struct{}),
		took: make(chan struct{})}
	s.chkDone, s.chkCancel = s.chk.done, cancel
	s.setState(st)
	s.log.Info("spool: unclean stop; opened on estimates, checking the file in the background",
		"path", s.path, "used_bytes", pf.usedBytes())
	return nil
}

// estimateState builds the state from the snapshot's small buckets and sum's edges of the large
// ones (see bgCheck).
func estimateState(tx *bolt.Tx, sum *openSummary) (state, estimate, error) {
	st := newState()
	est := estimate{queues: map[QueueKey]estQueue{}}
	queues, sys := tx.Bucket(bucketQueues), tx.Bucket(bucketSys)
	if queues == nil || sys == nil {
		return st, est, fmt.Errorf("%w: missing top-level buckets", errCorrupt)
	}
	readSysCounters(sys, &st)
	err := queues.ForEachBucket(func(name []byte) error {
		q, ok := parseQueueName(name)
		if !ok {
			return fmt.Errorf("queue bucket %q: bad name", name)
		}
		qs := st.queue(q)
		qs.delivered = int64(getU64(sys.Get([]byte(keyDelivered + string(name)))))
		qs.requeued = int64(getU64(sys.Get([]byte(keyRequeuedQ + string(name)))))
		rows, bytes, err := sum.edges["q\x00"+string(name)].estimate(true, queues.Bucket(name).Sequence())
		if err != nil {
			return fmt.Errorf("%w: queue %s: %w", errCorrupt, q, err)
		}
		if rows > 0 {
			e := sum.edges["q\x00"+string(name)]
			qs.addReady(rows, bytes, keySeq(e.firstKey), rowAt(e.firstVal))
		}
		st.used += bytes
		est.queues[q] = estQueue{rows: rows, bytes: bytes}
		return nil
	})
	if err != nil {
		return st, est, err
	}
	rows, bytes, err := sum.edges["dead"].estimate(false, 0)
	if err != nil {
		return st, est, fmt.Errorf("%w: dead letters: %w", errCorrupt, err)
	}
	st.dead, st.deadBytes = rows, bytes
	est.dead, est.deadBytes = rows, bytes
	return st, est, nil
}

// estimate returns the entries and bytes of a large bucket (nil e: empty): exact when the walk
// read all of it, otherwise its key span (an upper bound) and the span times the mean size of
// the entries read. Queue keys must be ones the spool wrote (8 bytes, at most the bucket's
// sequence top, values holding the time prefix).
func (e *edgeInfo) estimate(queue bool, top uint64) (int, int64, error) {
	if e == nil {
		return 0, 0, nil
	}
	for _, kv := range [][2][]byte{{e.firstKey, e.firstVal}, {e.lastKey, e.lastVal}} {
		if len(kv[0]) != 8 || (queue && (len(kv[1]) < tsLen || keySeq(kv[0]) > top)) {
			return 0, 0, fmt.Errorf("key %x is not one the spool wrote", kv[0])
		}
	}
	if e.exact {
		return e.n, e.sum, nil
	}
	first, last := keySeq(e.firstKey), keySeq(e.lastKey)
	if last < first || last-first >= 1<<40 {
		return 0, 0, fmt.Errorf("keys %d..%d", first, last)
	}
	rows := int(last - first + 1)
	return rows, e.sum / int64(e.n) * int64(rows), nil
}

// checking reports whether the counts are still estimates. Holds wmu or mu.
func (s *Spool) checking() bool { return s.chk != nil }

// abandon releases the snapshot of a check that will not run (read-only inspection): the counts
// stay estimates (Stats().Checking).
func (c *bgCheck) abandon() {
	c.pf.close()
	_ = protect(c.tx.Rollback)
	c.cancel()
	close(c.done)
}

// runCheck is the deferred check: the full structural check of the snapshot, then the scan of
// its rows; it replaces the estimates by the exact counts, or repairs the file when it finds
// damage. Close cancels it.
func (s *Spool) runCheck(c *bgCheck) {
	defer close(c.done)
	if s.opts.checkGate != nil {
		select {
		case <-s.opts.checkGate:
		case <-c.ctx.Done():
		}
	}
	delay := checkDelay
	if s.opts.checkDelay != 0 {
		delay = max(s.opts.checkDelay, 0)
	}
	t := time.NewTimer(delay)
	select {
	case <-c.took:
	case <-t.C:
	case <-c.ctx.Done():
	}
	t.Stop()
	err := c.pf.checkCtx(c.ctx)
	if err != nil && c.ctx.Err() == nil {
		err = fmt.Errorf("%w: %s: check: %w", errCorrupt, s.path, err)
	}
	c.pf.close()
	var snap state
	if err == nil {
		err = protect(func() error {
			var err error
			snap, err = scanState(c.ctx, c.tx)
			return err
		})
	}
	// Release the snapshot before taking any lock: a writer that must grow the mapping waits
	// for every read transaction, holding the write lock meanwhile.
	_ = protect(c.tx.Rollback)
	switch {
	case c.ctx.Err() != nil:
		return // Close: the counts stay estimates, no marker is written, the next start checks
	case err != nil:
		s.repair(c, err)
	default:
		s.reconcile(c, snap)
	}
}

// reconcile replaces the estimated part of every counter by what the scan of the snapshot found.
func (s *Spool) reconcile(c *bgCheck, snap state) {
	unlock, err := s.lockWrite()
	if err != nil {
		return
	}
	defer unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := 0
	for q, e := range c.est.queues {
		qs, sq := s.st.queue(q), snap.queues[q]
		var ready int
		var bytes int64
		if sq != nil {
			ready, bytes = sq.ready, sq.readyBytes
		}
		qs.ready += ready - e.rows
		qs.readyBytes += bytes - e.bytes
		s.st.used += bytes - e.bytes
		rows += ready
	}
	s.st.dead += snap.dead - c.est.dead
	s.st.deadBytes += snap.deadBytes - c.est.deadBytes
	s.chk = nil
	s.freedLocked() // blocked Appends look at the exact bytes again
	s.signal()
	s.log.Info("spool: background check after an unclean stop passed; counts are exact",
		"path", s.path, "rows_at_open", rows, "dead_letters_at_open", snap.dead, "took", time.Since(c.start).Round(time.Millisecond))
}

// forgetEstimate drops q from the estimate after its counters were rebuilt from the file.
// Holds wmu and mu.
func (s *Spool) forgetEstimate(q QueueKey) {
	if s.chk != nil {
		delete(s.chk.est.queues, q)
	}
}

// takeFoundNone is Take on a queue whose (over)estimated ready rows turned out to be none left:
// its ready counters are estimate residue, dropped now. Holds wmu and mu.
func (s *Spool) takeFoundNone(q QueueKey, qs *queueState) {
	if s.chk != nil {
		e := s.chk.est.queues[q]
		e.rows -= qs.ready
		e.bytes -= qs.readyBytes
		s.chk.est.queues[q] = e
	}
	s.st.used -= qs.readyBytes
	qs.ready, qs.readyBytes, qs.oldestSeq, qs.oldestAt = 0, 0, 0, time.Time{}
}

// repair handles damage found by the deferred check: it moves the file aside (logged once),
// opens a fresh one so delivery and ingest go on, and salvages the old file's readable rows into
// it (those in flight too: Power BI may receive them twice). Batches in flight at that moment
// are forgotten: their Ack, Nack or Reject does nothing (staleBatch) and their rows come back
// through the salvage; the fresh file's sequences continue the old ones, so no key is reused. A read-only spool only logs: it never moves a file.
func (s *Spool) repair(c *bgCheck, cause error) {
	s.damaged.Store(true)
	if s.opts.ReadOnly {
		s.log.Error("spool file damaged (background check after an unclean stop); counts are estimates",
			"path", s.path, "err", cause)
		return
	}
	dst, err := s.swapFresh(c, cause)
	if err != nil {
		s.log.Error("spool file damaged (background check after an unclean stop), and moving it aside failed; the next start checks it in full",
			"path", s.path, "err", err, "cause", cause)
		return
	}
	s.log.Error("spool file damaged (background check after an unclean stop): moved aside, delivery goes on with a fresh spool; salvaging its rows into it",
		"path", s.path, "quarantined", dst, "err", cause)
	res, err := SalvageFile(c.ctx, dst, s, SalvageOptions{})
	if err != nil {
		s.log.Error("spool salvage of the damaged file ended with losses or stopped; what was not recovered stays in the quarantined file (`pbi-pusher spool salvage`)",
			"quarantined", dst, "rows", res.Rows, "dead_letters", res.DeadLetters, "pages_skipped", res.PagesSkipped, "err", err)
		return
	}
	s.log.Warn("spool salvage of the damaged file done; rows that were in flight may reach Power BI twice",
		"quarantined", dst, "rows", res.Rows, "dead_letters", res.DeadLetters)
}

// swapFresh closes the damaged file, moves it aside and opens a fresh one in its place, keeping
// the destinations registered. Every other call waits meanwhile.
func (s *Spool) swapFresh(c *bgCheck, cause error) (string, error) {
	s.dbmu.Lock()
	defer s.dbmu.Unlock()
	if s.db == nil {
		return "", ErrClosed
	}
	seqs, deadSeq := s.sequences()
	_ = protect(s.db.Close)
	s.db = nil
	dst, err := s.moveAside(cause)
	if err != nil {
		if oerr := s.openDB(); oerr != nil { // keep going on the damaged file (guarded)
			return "", errors.Join(err, oerr)
		}
		return "", err
	}
	if err := s.openDB(); err != nil {
		return dst, err
	}
	s.mu.Lock()
	s.chk = nil
	fanouts := s.fanouts
	s.fanouts = nil
	s.mu.Unlock()
	if err := s.load(openHow{}); err != nil {
		return dst, err
	}
	if err := s.keepSequences(seqs, deadSeq); err != nil {
		return dst, err
	}
	for q, f := range fanouts {
		err := s.update(func(tx *bolt.Tx) error {
			nf, _, err := registerTx(tx, q, f.names)
			if err != nil || nf == nil {
				return err
			}
			s.mu.Lock()
			if s.fanouts == nil {
				s.fanouts = map[QueueKey]*fanout{}
			}
			s.fanouts[q] = nf
			s.mu.Unlock()
			return nil
		})
		if err != nil {
			return dst, fmt.Errorf("destinations of %s: %w", q, err)
		}
	}
	s.damaged.Store(false)
	s.mu.Lock()
	s.freedLocked()
	s.mu.Unlock()
	return dst, nil
}

// WaitChecked waits until the background check after an unclean stop has ended (at once when
// there is none): the counts are exact, or the file was repaired, or the spool was closed.
func (s *Spool) WaitChecked() {
	if s.chkDone != nil {
		<-s.chkDone
	}
}

// openSummary is what the deferred open reads with pread before bbolt maps the file: every page
// bbolt itself reads while Open runs, checked as the full check would (inside the file, well
// formed, keys in order, no page twice, no cycle), and the edges the estimate is made of. That
// is the whole tree except the inside of the large buckets (each queue, the dead letters, the
// destinations' done sets), of which only the first and last root-to-leaf paths are read, plus
// the paths to the rows that in-flight markers point at (re-queueing looks them up).
type openSummary struct {
	edges   map[string]*edgeInfo // "q\x00"+queue bucket name, or "dead"
	markers map[string][][]byte  // in-flight marker keys by queue bucket name, ascending
}

// edgeInfo is what the walk saw of one large bucket: its first and last entries and a sample of
// value sizes (every entry read). exact: nothing of it was skipped.
type edgeInfo struct {
	firstKey, firstVal, lastKey, lastVal []byte
	n                                    int
	sum                                  int64
	exact                                bool
}

// summarize walks what the deferred open needs (see openSummary). Errors are damage.
func (pf *pageFile) summarize() (*openSummary, error) {
	sum := &openSummary{edges: map[string]*edgeInfo{}, markers: map[string][][]byte{}}
	large := func(path [][]byte) (string, bool) {
		switch {
		case len(path) == 1 && bytes.Equal(path[0], bucketDead):
			return "dead", true
		case len(path) == 2 && bytes.Equal(path[0], bucketQueues):
			return "q\x00" + string(path[1]), true
		case len(path) >= 2 && bytes.Equal(path[0], bucketDests):
			return "", true
		}
		return "", false
	}
	w := newWalker(pf, false)
	w.descend = func(path [][]byte, i, n int, lo, hi []byte) bool {
		name, big := large(path)
		if !big || i == 0 || i == n-1 {
			return true
		}
		if len(path) == 2 && sum.markerIn(path[1], lo, hi) {
			return true
		}
		if e := sum.edges[name]; e != nil {
			e.exact = false
		}
		return false
	}
	w.leaf = func(path [][]byte, k, v []byte) {
		if len(path) == 2 && bytes.Equal(path[0], bucketInflight) {
			sum.markers[string(path[1])] = append(sum.markers[string(path[1])], bytes.Clone(k))
			return
		}
		name, big := large(path)
		if !big || name == "" {
			return
		}
		e := sum.edges[name]
		if e == nil {
			e = &edgeInfo{firstKey: bytes.Clone(k), firstVal: bytes.Clone(v), exact: true}
			sum.edges[name] = e
		}
		e.lastKey, e.lastVal = k, v
		e.n++
		if name == "dead" {
			e.sum += int64(len(v))
		} else {
			e.sum += int64(len(rowData(v)))
		}
	}
	w.walkRoot()
	for _, e := range sum.edges {
		e.lastKey, e.lastVal = bytes.Clone(e.lastKey), bytes.Clone(e.lastVal)
	}
	return sum, w.err
}

// markerIn reports whether queue bucket name has an in-flight marker in [lo, hi).
func (sum *openSummary) markerIn(name, lo, hi []byte) bool {
	ks := sum.markers[string(name)]
	i, _ := slices.BinarySearchFunc(ks, lo, bytes.Compare)
	return i < len(ks) && (hi == nil || bytes.Compare(ks[i], hi) < 0)
}

// sequences reads the last sequence of every queue and of the dead letters from the file about
// to be moved aside; where the file cannot say, it takes what memory knows plus a margin no
// file reaches in practice.
func (s *Spool) sequences() (map[QueueKey]uint64, uint64) {
	seqs := map[QueueKey]uint64{}
	var dead uint64
	err := protect(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			if d := tx.Bucket(bucketDead); d != nil {
				dead = d.Sequence()
			}
			return tx.Bucket(bucketQueues).ForEachBucket(func(name []byte) error {
				if q, ok := parseQueueName(name); ok {
					seqs[q] = tx.Bucket(bucketQueues).Bucket(name).Sequence()
				}
				return nil
			})
		})
	})
	const margin = 1 << 40
	s.mu.Lock()
	defer s.mu.Unlock()
	for q, qs := range s.st.queues {
		if _, ok := seqs[q]; ok && err == nil {
			continue
		}
		top := qs.oldestSeq
		for seq := range qs.taken {
			top = max(top, seq)
		}
		seqs[q] = max(seqs[q], top+margin)
	}
	if err != nil {
		dead += margin
	}
	return seqs, dead
}

// keepSequences starts the fresh file's queues and dead letters after the sequences of the file
// moved aside, so a row appended or salvaged now never takes the key of a row in a batch taken
// from the old file, and records those bounds for staleBatch. Holds dbmu exclusively.
func (s *Spool) keepSequences(seqs map[QueueKey]uint64, deadSeq uint64) error {
	err := s.update(func(tx *bolt.Tx) error {
		for q, seq := range seqs {
			qb, err := tx.Bucket(bucketQueues).CreateBucketIfNotExists(queueName(q))
			if err != nil {
				return err
			}
			if err := qb.SetSequence(seq); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketDead).SetSequence(deadSeq)
	})
	if err != nil {
		return fmt.Errorf("keep sequences: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale = seqs
	for q := range seqs {
		s.st.queue(q) // the queues exist in the file now
	}
	return nil
}

// staleBatch reports whether every row of b was taken from a file a repair has since moved
// aside (its Ack, Nack or Reject is then a no-op: the rows were salvaged and come again).
// Holds wmu.
func (s *Spool) staleBatch(b *Batch) bool {
	top, ok := s.stale[b.Queue]
	if !ok || len(b.Rows) == 0 {
		return false
	}
	qs := s.st.queues[b.Queue]
	for _, r := range b.Rows {
		if r.Seq > top {
			return false
		}
		if qs != nil {
			if _, taken := qs.taken[r.Seq]; taken {
				return false
			}
		}
	}
	return true
}

package spool

import (
	"errors"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Meta reads a metadata key (nil, nil if absent).
func (s *Spool) Meta(key string) ([]byte, error) {
	s.dbmu.RLock()
	defer s.dbmu.RUnlock()
	if s.db == nil {
		return nil, ErrClosed
	}
	var val []byte
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte(key)); v != nil {
			val = append([]byte{}, v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("spool: meta %q: %w", key, err)
	}
	return val, nil
}

// SetMeta writes a metadata key durably. A nil val deletes the key.
func (s *Spool) SetMeta(key string, val []byte) error {
	if key == "" {
		return errors.New("spool: set meta: empty key")
	}
	unlock, err := s.lockWrite()
	if err != nil {
		return err
	}
	defer unlock()
	err = s.update(func(tx *bolt.Tx) error {
		if val == nil {
			return tx.Bucket(bucketMeta).Delete([]byte(key))
		}
		return tx.Bucket(bucketMeta).Put([]byte(key), append([]byte(nil), val...))
	})
	if err != nil {
		return fmt.Errorf("spool: set meta %q: %w", key, err)
	}
	return nil
}

// Backlog returns q's ready rows. O(1): it reads the in-memory counters.
func (s *Spool) Backlog(q QueueKey) Backlog {
	s.mu.Lock()
	defer s.mu.Unlock()
	if qs := s.st.queues[q]; qs != nil {
		return qs.backlog()
	}
	return Backlog{}
}

// Delivered returns how many rows of q were acked over the spool's life (drives the 250k switch).
func (s *Spool) Delivered(q QueueKey) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.fanouts[q].dest(PowerBI); st != nil {
		return st.delivered // a table with other destinations too: Power BI's own count
	}
	if qs := s.st.queues[q]; qs != nil {
		return qs.delivered
	}
	return 0
}

// Stats returns a snapshot.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	st := Stats{Queues: make(map[QueueKey]Backlog, len(s.st.queues)), InFlight: s.st.inflight,
		DeadLetters: s.st.dead, Bytes: s.st.used, MaxBytes: s.opts.MaxBytes, Dropped: s.st.dropped,
		Requeued: s.st.requeued, Quarantined: s.st.quarant, Compactions: s.st.compacts,
		DeadEvicted: s.st.deadEvicted, DiskFull: !s.st.lowDiskSince.IsZero(), DiskFullEvents: s.st.lowDiskEvents,
		Checking: s.checking()}
	for q, qs := range s.st.queues {
		st.Queues[q] = qs.backlog()
	}
	s.mu.Unlock()
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	return st
}

// Path returns the spool file's path.
func (s *Spool) Path() string { return s.path }

// Close closes the file. Safe to call twice. Rows in flight stay in flight: the next Open
// re-queues them. Appends blocked on a full spool return ErrClosed; Appends already handed to the
// commit loop are committed first.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	if s.chkDone != nil { // the deferred check: stop it (and a salvage after it) first
		s.chkCancel()
		<-s.chkDone
	}
	s.appends.Wait()
	close(s.loopQuit)
	<-s.loopDone
	s.dbmu.Lock()
	defer s.dbmu.Unlock()
	if s.opts.ReadOnly {
		err := s.db.Close()
		s.db = nil
		return err
	}
	var err error
	if s.db != nil && !s.damaged.Load() && !s.checking() { // estimated counts are no marker
		if cerr := protect(s.writeClean); cerr != nil {
			s.log.Warn("spool: could not write the clean-shutdown marker; the next start runs the full check", "path", s.path, "err", cerr)
		}
	}
	if s.db != nil {
		err = s.db.Close()
		s.db = nil
	}
	_ = os.Remove(s.pidPath())
	if err != nil {
		return fmt.Errorf("spool: close %s: %w", s.path, err)
	}
	return nil
}

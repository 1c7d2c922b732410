package spool

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketPosts holds, per dataset, the POSTs sent in the last hour: key = BE unix nanos + BE
// sequence, value = BE uint32 rows. It lets a restarted process count what the previous one sent
// in its rolling windows, so a crash loop cannot exceed the service's limits.
var bucketPosts = []byte("posts")

// PostRecord is one POST sent.
type PostRecord struct {
	At   time.Time
	Rows int
}

// RecordPost durably records a POST of rows to dataset at time at, before it is sent, and forgets
// records older than an hour and a minute (a restarted process counts the POSTs of the last hour
// and those that may still have been in flight at its start, batcher's restore).
func (s *Spool) RecordPost(dataset string, at time.Time, rows int) error {
	unlock, err := s.lockWrite()
	if err != nil {
		return err
	}
	defer unlock()
	err = s.update(func(tx *bolt.Tx) error {
		top, err := tx.CreateBucketIfNotExists(bucketPosts)
		if err != nil {
			return err
		}
		b, err := top.CreateBucketIfNotExists([]byte(dataset))
		if err != nil {
			return err
		}
		b.FillPercent = 1.0
		if err := pruneBefore(b, at.Add(-time.Hour-time.Minute)); err != nil {
			return err
		}
		seq, _ := b.NextSequence()
		key := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(at.UnixNano())), seq)
		return b.Put(key, binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(rows)))
	})
	if err != nil {
		return fmt.Errorf("spool: record post of %s: %w", dataset, s.classifyWrite(err))
	}
	return nil
}

// RecentPosts returns dataset's POSTs recorded at or after since, oldest first.
func (s *Spool) RecentPosts(dataset string, since time.Time) ([]PostRecord, error) {
	s.dbmu.RLock()
	defer s.dbmu.RUnlock()
	if s.db == nil {
		return nil, ErrClosed
	}
	var out []PostRecord
	err := s.view(func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketPosts)
		if top == nil {
			return nil
		}
		b := top.Bucket([]byte(dataset))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.First()
		if since.UnixNano() > 0 {
			k, v = c.Seek(binary.BigEndian.AppendUint64(nil, uint64(since.UnixNano())))
		}
		for ; k != nil; k, v = c.Next() {
			if len(k) != 16 || len(v) != 4 {
				continue
			}
			out = append(out, PostRecord{At: time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC(), Rows: int(binary.BigEndian.Uint32(v))})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("spool: recent posts of %s: %w", dataset, err)
	}
	return out, nil
}

// pruneBefore deletes the records older than cut (collect first, then delete: bbolt's cursor
// delete bug, deps-notes §3).
func pruneBefore(b *bolt.Bucket, cut time.Time) error {
	limit := uint64(cut.UnixNano())
	var old [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(k) >= 8 && binary.BigEndian.Uint64(k) < limit; k, _ = c.Next() {
		old = append(old, append([]byte(nil), k...))
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

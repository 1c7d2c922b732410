package spool

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// keyClean is the clean-shutdown marker (sys bucket): written by Close in the file's last
// transaction, it holds that transaction's id and the in-memory counters. At Open a marker whose
// txid is the file's current txid proves nothing was written since a clean Close, so Open skips
// the full check and the scan of every row: a restart costs a few page reads whatever the size
// of the backlog. Any later write transaction makes the marker stale by itself (the txid moves
// on), so a crash after Open is never mistaken for a clean stop.
var keyClean = []byte("clean")

type cleanMarker struct {
	TxID      uint64       `json:"txid"`
	Queues    []cleanQueue `json:"queues"`
	Dead      int          `json:"dead"`
	DeadBytes int64        `json:"dead_bytes"`
	Closed    time.Time    `json:"closed"`
	Version   int          `json:"v"`
}

// cleanQueue is one queue's counters; in-flight rows count as ready (Open re-queues them).
type cleanQueue struct {
	Dataset   string `json:"d"`
	Table     string `json:"t"`
	Rows      int    `json:"rows"`
	Bytes     int64  `json:"bytes"`
	OldestSeq uint64 `json:"oldest_seq"`
	OldestAt  int64  `json:"oldest_at"`
}

const cleanVersion = 1

// writeClean commits the clean-shutdown marker. Holds dbmu exclusively, no writer left.
func (s *Spool) writeClean() error {
	m := cleanMarker{Version: cleanVersion, Dead: s.st.dead, DeadBytes: s.st.deadBytes, Closed: s.now().UTC()}
	for q, qs := range s.st.queues {
		cq := cleanQueue{Dataset: q.Dataset, Table: q.Table, Rows: qs.ready + len(qs.taken),
			Bytes: qs.readyBytes, OldestSeq: qs.oldestSeq, OldestAt: qs.oldestAt.UnixNano()}
		for seq, t := range qs.taken {
			cq.Bytes += int64(t.size)
			if cq.OldestSeq == 0 || seq < cq.OldestSeq {
				cq.OldestSeq, cq.OldestAt = seq, t.when().UnixNano()
			}
		}
		m.Queues = append(m.Queues, cq)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		m.TxID = uint64(tx.ID())
		v, err := json.Marshal(m)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketSys).Put(keyClean, v)
	})
}

// readClean returns the marker of pf when it is current (nil otherwise: unclean stop, older
// file, or unreadable).
func readClean(pf *pageFile) *cleanMarker {
	v := pf.lookup([][]byte{bucketSys}, keyClean)
	if v == nil {
		return nil
	}
	var m cleanMarker
	if err := json.Unmarshal(v, &m); err != nil || m.Version != cleanVersion || m.TxID != pf.meta.txid {
		return nil
	}
	return &m
}

// stateFromClean rebuilds the in-memory state from a current marker plus the cheap counters of
// the sys bucket.
func stateFromClean(tx *bolt.Tx, m *cleanMarker) (state, error) {
	st := newState()
	sys := tx.Bucket(bucketSys)
	if sys == nil {
		return st, fmt.Errorf("no %s bucket", bucketSys)
	}
	for _, cq := range m.Queues {
		q := QueueKey{Dataset: cq.Dataset, Table: cq.Table}
		qs := st.queue(q)
		qs.delivered = int64(getU64(sys.Get([]byte(keyDelivered + string(queueName(q))))))
		qs.requeued = int64(getU64(sys.Get([]byte(keyRequeuedQ + string(queueName(q))))))
		qs.addReady(cq.Rows, cq.Bytes, cq.OldestSeq, time.Unix(0, cq.OldestAt).UTC())
		st.used += cq.Bytes
	}
	st.dead, st.deadBytes = m.Dead, m.DeadBytes
	readSysCounters(sys, &st)
	return st, nil
}

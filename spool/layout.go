package spool

import (
	"bytes"
	"encoding/binary"
	"time"
)

var (
	bucketQueues   = []byte("queues")
	bucketInflight = []byte("inflight")
	bucketDead     = []byte("dead")
	bucketMeta     = []byte("meta")
	bucketSys      = []byte("sys")

	keyDropped   = []byte("dropped")
	keyRequeued  = []byte("requeued")
	keyDelivered = "delivered\x00"
)

// topBuckets are created at Open.
var topBuckets = [][]byte{bucketQueues, bucketInflight, bucketDead, bucketMeta, bucketSys}

// tsLen is the size of the append-time prefix of a row value.
const tsLen = 8

// queueName encodes q as a bucket name. Names never contain 0x00 (validated on Append).
func queueName(q QueueKey) []byte {
	return []byte(q.Dataset + "\x00" + q.Table)
}

// parseQueueName is the inverse of queueName.
func parseQueueName(name []byte) (QueueKey, bool) {
	d, t, ok := bytes.Cut(name, []byte{0})
	return QueueKey{Dataset: string(d), Table: string(t)}, ok
}

// seqKey returns a fresh 8-byte big-endian key (keys must stay valid until commit).
func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

func keySeq(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

// rowValue encodes a queued row: append time then data, in a fresh buffer.
func rowValue(at time.Time, data []byte) []byte {
	v := make([]byte, tsLen, tsLen+len(data))
	binary.BigEndian.PutUint64(v, uint64(at.UnixNano()))
	return append(v, data...)
}

// rowAt decodes the append time of a row value.
func rowAt(v []byte) time.Time {
	if len(v) < tsLen {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
}

// rowData returns the data part of a row value (aliases v).
func rowData(v []byte) []byte {
	if len(v) < tsLen {
		return nil
	}
	return v[tsLen:]
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n) }

func getU64(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

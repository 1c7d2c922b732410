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
	keyRequeuedQ = "requeued\x00"
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

// posFlag marks, in the time prefix, a row value that carries its source position:
// [8B time|posFlag][uvarint length][position][row JSON]. Times are positive, so the bit is free
// and files written before positions existed read unchanged.
const posFlag = uint64(1) << 63

// rowValuePos encodes a queued row with its source position ("" = none: rowValue).
func rowValuePos(at time.Time, pos string, data []byte) []byte {
	if pos == "" {
		return rowValue(at, data)
	}
	v := make([]byte, tsLen, tsLen+binary.MaxVarintLen64+len(pos)+len(data))
	binary.BigEndian.PutUint64(v, uint64(at.UnixNano())|posFlag)
	v = binary.AppendUvarint(v, uint64(len(pos)))
	v = append(v, pos...)
	return append(v, data...)
}

// rowAt decodes the append time of a row value.
func rowAt(v []byte) time.Time {
	if len(v) < tsLen {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v)&^posFlag)).UTC()
}

// rowData returns the data part of a row value (aliases v).
func rowData(v []byte) []byte {
	_, data := rowSplit(v)
	return data
}

// rowPos returns the source position stored with a row value ("" if none).
func rowPos(v []byte) string {
	pos, _ := rowSplit(v)
	return string(pos)
}

// rowSplit returns the position and data parts of a row value (aliasing v).
func rowSplit(v []byte) (pos, data []byte) {
	if len(v) < tsLen {
		return nil, nil
	}
	if binary.BigEndian.Uint64(v)&posFlag == 0 {
		return nil, v[tsLen:]
	}
	n, k := binary.Uvarint(v[tsLen:])
	if k <= 0 || uint64(len(v)-tsLen-k) < n {
		return nil, v[tsLen:] // not a position prefix after all: keep the bytes
	}
	start := tsLen + k
	return v[start : start+int(n)], v[start+int(n):]
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n) }

func getU64(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

package spool

import "time"

// state is the in-memory mirror of the file. Writers change it holding wmu and mu.
type state struct {
	queues   map[QueueKey]*queueState
	used     int64 // ready + in-flight row bytes (what MaxBytes caps)
	reserved int64 // bytes admitted by Append, not yet committed
	inflight int
	dead     int
	// deadBytes: stored bytes of the dead letters (what MaxDeadBytes caps).
	deadBytes   int64
	deadEvicted int64
	evictLogged time.Time
	dropped     int64
	requeued    int64
	quarant     int
	compacts    int

	dropLogged time.Time // last drop_oldest warning (rate limit)

	diskReserved  int64     // disk estimate of writes admitted, not yet committed
	lowDiskSince  time.Time // "disk full" state: set while admission keeps the reserve free
	lowDiskEvents int       // times the disk filled up since Open
	failAvail     int64     // available bytes when a write last failed with ENOSPC; -1 = none
}

// queueState mirrors one queue bucket.
type queueState struct {
	ready      int
	readyBytes int64
	oldestSeq  uint64 // first ready row, 0 if none
	oldestAt   time.Time
	taken      map[uint64]takenRow
	takenPeak  int // most entries taken held since it was last rebuilt
	delivered  int64
	requeued   int64 // rows re-queued at Open over the file's life (Power BI may hold them)
}

// takenRow remembers what an in-flight row needs when it comes back: its size and time, packed
// (24 bytes a map entry instead of 40: a process may hold hundreds of thousands of rows in flight).
type takenRow struct {
	size int32 // a row is at most a few MiB
	at   int64 // unix nanoseconds, 0 for the zero time
}

func newTaken(size int, at time.Time) takenRow {
	t := takenRow{size: int32(size)}
	if !at.IsZero() {
		t.at = at.UnixNano()
	}
	return t
}

// when returns the row's time.
func (t takenRow) when() time.Time {
	if t.at == 0 {
		return time.Time{}
	}
	return time.Unix(0, t.at).UTC()
}

func newState() state { return state{queues: map[QueueKey]*queueState{}, failAvail: -1} }

// queue returns q's state, creating it.
func (st *state) queue(q QueueKey) *queueState {
	qs := st.queues[q]
	if qs == nil {
		qs = &queueState{taken: map[uint64]takenRow{}}
		st.queues[q] = qs
	}
	return qs
}

func (qs *queueState) backlog() Backlog {
	b := Backlog{Rows: qs.ready, Bytes: qs.readyBytes, Requeued: qs.requeued}
	if qs.ready > 0 {
		b.Oldest = qs.oldestAt
	}
	return b
}

// addReady records n ready rows whose first has seq/at (rows appended or put back).
func (qs *queueState) addReady(n int, bytes int64, seq uint64, at time.Time) {
	if n == 0 {
		return
	}
	qs.ready += n
	qs.readyBytes += bytes
	if qs.oldestSeq == 0 || seq < qs.oldestSeq {
		qs.oldestSeq, qs.oldestAt = seq, at
	}
}

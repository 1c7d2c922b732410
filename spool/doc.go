// Package spool is pbi-pusher's durable queue: one bbolt file holding a FIFO of rows per table,
// source checkpoints and dataset metadata, in-flight records and dead letters.
//
// File layout (every key below is a bbolt key; "seq" is an 8-byte big-endian uint64, so byte
// order is FIFO order):
//
//	spool.db
//	├── queues/                      one nested bucket per table queue
//	│   └── <dataset> 0x00 <table>/  Sequence() = last seq handed out (never reused)
//	│       └── seq → [8B unix-nano append time][row JSON]
//	├── inflight/                    rows handed to a sender and not yet answered
//	│   └── <dataset> 0x00 <table>/
//	│       └── seq → 0x01           marker only; the row itself stays in queues/
//	├── dead/                        dead letters, Sequence() = last id
//	│   └── id → JSON {queue, data, position, reason, at}
//	├── meta/                        caller metadata: dataset ids, source checkpoints
//	│   └── key → value
//	└── sys/                         spool bookkeeping
//	    ├── "delivered" 0x00 <queue> → 8B count of acked rows
//	    ├── "dropped"                → 8B rows dropped by when_full=drop_oldest
//	    ├── "requeued"               → 8B in-flight rows re-queued at Open
//	    ├── "requeued" 0x00 <queue>  → 8B the same, per queue (rows Power BI may hold already)
//	    ├── "dead_evicted"           → 8B dead letters evicted by the dead-letter cap
//	    └── "clean"                  → JSON clean-shutdown marker: txid of Close's transaction
//	                                   and the counters (see clean.go)
//
//	spool.db.pid                     sidecar: pid of the process holding the file lock
//
// The file is untrusted until checked (open.go, pagefile.go): the meta pages are checked against
// the file size before bbolt maps it, the page tree is checked with pread unless a current
// clean-shutdown marker vouches for it, and every transaction runs with memory faults turned
// into errors (guard.go), so a damaged file is moved aside, never a crash.
//
// Life of a row: Append puts it in queues/ (with its dead letters and checkpoints, one fsync'd
// transaction shared by concurrent callers); Take writes its inflight/ marker; Ack deletes row and
// marker, Nack deletes the marker only (the row never moved, so it stays ahead of newer rows),
// Reject moves the row to dead/. Open deletes every inflight/ marker left behind (those rows may
// already be at Power BI: they are counted as re-queued and sent again).
//
// In memory the spool keeps per-queue counters (ready rows and bytes, the oldest ready row, the
// in-flight set), rebuilt from the file at Open, so Backlog is O(1). Check compares them with the
// file.
package spool

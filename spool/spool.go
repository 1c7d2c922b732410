// Package spool is pbi-pusher's durable queue: one bbolt file holding a FIFO of rows per table,
// source checkpoints and dataset metadata, in-flight records and dead letters.
//
// CONTRACT STUB: bodies are filled in by the spool implementation; signatures are the agreement.
package spool

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// QueueKey names one table queue: the dataset and table names from the config.
type QueueKey struct{ Dataset, Table string }

func (q QueueKey) String() string { return q.Dataset + "/" + q.Table }

// Options configure Open.
type Options struct {
	NoSync   bool          // unsafe: skip fsync
	MaxBytes int64         // cap on spooled bytes; 0 = 10 GiB
	WhenFull string        // "block" (default) or "drop_oldest"
	Timeout  time.Duration // lock wait before "spool in use by pid N"; 0 = 1s
	Logger   *slog.Logger  // nil = discard
	Now      func() time.Time
}

// Row is one spooled row: its JSON object bytes (as produced by schema) and its append time.
type Row struct {
	Seq  uint64
	Data []byte
	At   time.Time
}

// Batch is a set of rows taken from one queue and marked in flight until Ack/Nack/DeadLetter.
type Batch struct {
	Queue QueueKey
	Rows  []Row
	Bytes int // sum of len(Data)
}

// Split returns two halves of b (for bisecting a rejected batch). b must hold >= 2 rows.
func (b *Batch) Split() (*Batch, *Batch) { panic("stub") }

// Backlog describes the ready (not in-flight) rows of a queue.
type Backlog struct {
	Rows   int
	Bytes  int64
	Oldest time.Time // append time of the oldest ready row; zero if none
}

// DeadLetter is one dead-lettered row.
type DeadLetter struct {
	ID       uint64
	Queue    QueueKey
	Data     []byte // row JSON, or the raw input for rows that never parsed
	Position string // file:line, topic/partition/offset, or "" for rows Power BI rejected
	Reason   string
	At       time.Time
}

// Stats is a snapshot for spool stats, metrics and /status.
type Stats struct {
	Queues      map[QueueKey]Backlog
	InFlight    int
	DeadLetters int
	FileBytes   int64
}

// ErrFull is returned by Append with WhenFull=block when ctx ends while the spool is full.
var ErrFull = errors.New("spool full")

// ErrInUse is returned by Open when another process holds the file.
var ErrInUse = errors.New("spool in use")

// Spool is an open spool file. Methods are safe for concurrent use.
type Spool struct{}

// Open opens (creating) the spool file, re-queues in-flight batches left by a crash, and
// quarantines a corrupt file (moved to PATH.corrupt-<time>, a fresh one started).
func Open(path string, opts Options) (*Spool, error) { panic("stub") }

// Close closes the file. Safe to call twice.
func (s *Spool) Close() error { panic("stub") }

// Write is one durable unit: rows for one queue, dead letters and source checkpoints, committed
// in a single transaction.
type Write struct {
	Queue       QueueKey
	Rows        [][]byte          // row JSON objects (from schema)
	DeadLetters []DeadLetter      // rows that failed decoding or the schema
	Checkpoints map[string][]byte // metadata keys written in the same transaction (nil = none)
}

// Append durably commits w. It returns only after the transaction is fsynced. Concurrent callers
// share fsyncs (group commit). When full it blocks (until ctx ends: ErrFull) or drops the oldest
// rows, per Options.WhenFull.
func (s *Spool) Append(ctx context.Context, w Write) error { panic("stub") }

// Take marks up to maxRows oldest ready rows of q (and at most maxBytes of row data) in flight
// and returns them; nil when q has no ready rows.
func (s *Spool) Take(q QueueKey, maxRows, maxBytes int) (*Batch, error) { panic("stub") }

// Ack deletes b's rows: Power BI answered 2xx. It also adds len(b.Rows) to q's delivered count.
func (s *Spool) Ack(b *Batch) error { panic("stub") }

// Nack returns b's rows to the ready queue, ahead of newer rows.
func (s *Spool) Nack(b *Batch) error { panic("stub") }

// Reject moves b's rows to the dead-letter bucket with reason, in one transaction.
func (s *Spool) Reject(b *Batch, reason string) error { panic("stub") }

// Backlog returns q's ready rows.
func (s *Spool) Backlog(q QueueKey) Backlog { panic("stub") }

// Delivered returns how many rows of q were acked over the spool's life (drives the 250k switch).
func (s *Spool) Delivered(q QueueKey) int64 { panic("stub") }

// Notify returns a channel that receives (non-blocking, capacity 1) after every Append and Nack.
func (s *Spool) Notify() <-chan struct{} { panic("stub") }

// Meta reads a metadata key (nil, nil if absent).
func (s *Spool) Meta(key string) ([]byte, error) { panic("stub") }

// SetMeta writes a metadata key durably.
func (s *Spool) SetMeta(key string, val []byte) error { panic("stub") }

// Stats returns a snapshot.
func (s *Spool) Stats() Stats { panic("stub") }

// DeadLetters lists dead letters (up to limit; 0 = all).
func (s *Spool) DeadLetters(limit int) ([]DeadLetter, error) { panic("stub") }

// Replay moves dead letters with the given ids (all if ids is empty) back to their queues.
func (s *Spool) Replay(ids []uint64) (int, error) { panic("stub") }

package spool

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// QueueKey names one table queue: the dataset and table names from the config.
type QueueKey struct{ Dataset, Table string }

func (q QueueKey) String() string { return q.Dataset + "/" + q.Table }

// Options configure Open. The zero value is a valid, safe configuration.
type Options struct {
	NoSync bool // unsafe: skip fsync
	// MaxBytes caps the row bytes held in table queues: the sum of len(row JSON) of every ready
	// and in-flight row. Dead letters, keys, the 8-byte timestamps and bbolt page overhead are
	// not counted; budget about 1.5-2x MaxBytes of disk. 0 = 10 GiB.
	MaxBytes int64
	WhenFull string        // "block" (default) or "drop_oldest"
	Timeout  time.Duration // lock wait before "spool in use by pid N"; 0 = 1s
	Logger   *slog.Logger  // nil = discard
	Now      func() time.Time
	// CompactMinBytes: files whose used pages (up to the last one bbolt allocated, not the
	// sparse space it grows the file ahead by) come to less than this are never compacted.
	// 0 = 64 MiB.
	CompactMinBytes int64
	// ReserveBytes is the disk space (free on the file system plus free pages inside the file)
	// that Append leaves untouched: it waits (and Full reports true) while a write would eat
	// into it, so Take, Ack, Nack, Reject and the POST log can always commit. 0 = 8 MiB
	// (DefaultReserveBytes); negative = no reserve.
	ReserveBytes int64
	// MaxDeadBytes caps the stored bytes of dead letters; beyond it the oldest are evicted,
	// logged and counted (Stats.DeadEvicted). Dead letters do not count toward MaxBytes.
	// 0 = MaxBytes/10.
	MaxDeadBytes int64
	// FullCheckMaxBytes: a file whose used pages (up to the high-water mark, not the space
	// bbolt grows the file ahead by) come to at most this is fully checked and scanned at Open
	// (tens of milliseconds). A larger one opens on its clean-shutdown marker alone, in a few
	// page reads; without a current marker (a crash, a kill -9) it opens on estimates after
	// checking the pages Open reads, and the full check and row scan run in the background
	// (Stats.Checking; see bgcheck.go). 0 = DefaultFullCheckMaxBytes; negative = every file is
	// large.
	FullCheckMaxBytes int64
	// ReadOnly opens for inspection (spool stats, dead-letters): nothing is written, no pid
	// file, no compaction, no quarantine (a damaged file is an error). It shares the lock with
	// other readers and fails with ErrInUse while an agent holds the file.
	ReadOnly bool
	// Remap maps source-format dead letters on replay (see Remapper). nil: replay leaves them
	// in place (a raw CSV line or unconverted value is not a row).
	Remap Remapper

	checkGate  <-chan struct{} // tests: the background check waits for it before it starts
	checkDelay time.Duration   // tests: replaces checkDelay (negative: no wait)
}

// Full policies.
const (
	WhenFullBlock      = "block"
	WhenFullDropOldest = "drop_oldest"
)

// DefaultFullCheckMaxBytes is the default Options.FullCheckMaxBytes (64 MiB).
const DefaultFullCheckMaxBytes int64 = 64 << 20

// DefaultMaxBytes is the default spool cap (10 GiB).
const DefaultMaxBytes int64 = 10 << 30

// Row is one spooled row: its JSON object bytes (as produced by schema) and its append time.
type Row struct {
	Seq  uint64
	Data []byte
	At   time.Time
	// Position is the row's source position when the Write carried positions ("" otherwise).
	Position string
}

// Batch is a set of rows taken from one queue and marked in flight until Ack/Nack/Reject.
type Batch struct {
	Queue QueueKey
	Rows  []Row
	Bytes int // sum of len(Data)
}

// Backlog describes the ready (not in-flight) rows of a queue.
type Backlog struct {
	Rows   int
	Bytes  int64
	Oldest time.Time // append time of the oldest ready row; zero if none
	// Requeued counts the rows re-queued at Open (in flight at an unclean stop) over the file's
	// life: Power BI may already hold them, so they count toward the table's size.
	Requeued int64
}

// DeadLetter is one dead-lettered row.
type DeadLetter struct {
	ID    uint64
	Queue QueueKey
	// Destination is the destination that rejected the row ("" for input that never reached
	// the spool's queues, and for Power BI on a plain queue).
	Destination string
	Data        []byte // row JSON, or the raw input for rows that never parsed
	Position    string // file:line, topic/partition/offset, or "" for rows Power BI rejected
	Reason      string
	At          time.Time
	// Format is the source format of Data for input that failed before it became a row: "json"
	// (a JSON object: JSON lines, Kafka, HTTP) or "csv" (one CSV record, read with Header). ""
	// means Data is a row as sent to Power BI (or a dead letter of an older version).
	Format string
	Header []string
}

// Remapper decodes and maps a source-format dead letter (Format set) with the current schema of
// its table, returning the row to queue; an error is the new reason it stays a dead letter for.
type Remapper func(d DeadLetter) ([]byte, error)

// Stats is a snapshot for spool stats, metrics and /status.
type Stats struct {
	Queues      map[QueueKey]Backlog // every queue present in the file, ready rows only
	InFlight    int                  // rows taken and not yet acked/nacked/rejected
	DeadLetters int
	FileBytes   int64
	Bytes       int64 // row bytes counted against MaxBytes (ready + in flight)
	MaxBytes    int64
	Dropped     int64 // rows dropped by when_full=drop_oldest, over the file's life
	Requeued    int64 // in-flight rows re-queued at Open (possible duplicates), over the file's life
	Quarantined int   // corrupt files moved aside by this Open (0 or 1)
	Compactions int   // compactions done since Open
	DeadEvicted int64 // dead letters evicted by Options.MaxDeadBytes, over the file's life
	// DiskFull: ingest is paused because the disk has less than Options.ReserveBytes free.
	DiskFull bool
	// DiskFullEvents counts the times the disk filled up since Open.
	DiskFullEvents int
	// Checking: the file was opened after an unclean stop and its full check and row scan are
	// still running in the background; until they end, the row and byte counts of Queues,
	// Bytes and DeadLetters are estimates (the oldest row of each queue is exact).
	Checking bool
}

var (
	// ErrFull is returned by Append with WhenFull=block when ctx ends while the spool is full.
	ErrFull = errors.New("spool full")
	// ErrInUse is returned by Open when another process holds the file.
	ErrInUse = errors.New("spool in use")
	// ErrNoSpace marks a write that failed, or waited until its context ended, because the disk
	// is full (ENOSPC, or less than Options.ReserveBytes free for an Append). An Append that
	// gives up for it wraps ErrFull as well, so sources that pause on ErrFull pause on it too.
	ErrNoSpace = errors.New("no space left for the spool")
	// ErrClosed is returned by calls on a closed spool.
	ErrClosed = errors.New("spool closed")
	// ErrNotInFlight is returned by Ack, Nack and Reject for rows that are not in flight.
	ErrNotInFlight = errors.New("rows not in flight")
)

// Spool is an open spool file. Methods are safe for concurrent use.
//
// Lock order: dbmu (RLock for every operation, Lock to swap the file when compacting) → wmu
// (serializes write transactions and the in-memory changes that follow them) → mu (in-memory
// state, read by Backlog/Stats/Full without waiting for fsync).
type Spool struct {
	path string
	opts Options
	log  *slog.Logger

	dbmu     sync.RWMutex
	db       *bolt.DB
	pageSize int // of db, set with it (db.Info races with writers)

	failCopyOpen func() error // test hook: makes compaction's open of its copy fail
	damaged      atomic.Bool  // a read met a damaged page: Close writes no clean-shutdown marker

	// chk is the deferred check after an unclean stop (bgcheck.go), nil once the counts are
	// exact; set by Open, cleared holding wmu and mu. chkDone and chkCancel stay set.
	chk       *bgCheck
	chkDone   chan struct{}
	chkCancel func()
	// stale: after a repair moved the file aside, the last sequence each queue had in it; rows
	// at or below it that are not in flight belong to batches taken from the old file. Guarded
	// like the state.
	stale map[QueueKey]uint64

	wmu sync.Mutex

	mu       sync.Mutex
	st       state
	space    chan struct{} // closed (and replaced) when row bytes are freed
	closed   bool
	appends  sync.WaitGroup
	notify   chan struct{}
	reqs     chan *appendReq
	stop     chan struct{} // closed by Close: blocked Appends give up
	loopQuit chan struct{} // closed by Close once no Append is running
	loopDone chan struct{}

	fanouts map[QueueKey]*fanout // queues not delivered to Power BI alone (dest.go); guarded by mu
}

// Notify returns a channel that receives (non-blocking, capacity 1) after every Append, Nack
// and Replay that added ready rows.
func (s *Spool) Notify() <-chan struct{} { return s.notify }

func (s *Spool) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *Spool) now() time.Time { return s.opts.Now() }

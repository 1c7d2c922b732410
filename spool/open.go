package spool

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// errCorrupt marks a file that bbolt cannot open or whose check fails.
var errCorrupt = errors.New("spool file corrupt")

// Open opens (creating) the spool file, re-queues in-flight batches left by a crash, and
// quarantines a corrupt file (moved to PATH.corrupt-<time>, a fresh one started; see
// Stats().Quarantined). When another process holds the file it fails after Options.Timeout
// with ErrInUse naming that process.
func Open(path string, opts Options) (*Spool, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	s := &Spool{path: path, opts: opts, log: opts.Logger, st: newState()}
	if err := s.openFile(); err != nil {
		return nil, err
	}
	if err := s.load(); err != nil {
		_ = s.db.Close()
		return nil, err
	}
	if _, err := s.compactLocked(); err != nil {
		if s.db == nil {
			return nil, err
		}
		s.log.Warn("spool compaction at open failed", "path", path, "err", err)
	}
	s.start()
	return s, nil
}

func withDefaults(o Options) (Options, error) {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	switch o.WhenFull {
	case "":
		o.WhenFull = WhenFullBlock
	case WhenFullBlock, WhenFullDropOldest:
	default:
		return o, fmt.Errorf("spool: when_full %q: want %q or %q", o.WhenFull, WhenFullBlock, WhenFullDropOldest)
	}
	if o.MaxBytes < 0 {
		return o, fmt.Errorf("spool: max_bytes %d is negative", o.MaxBytes)
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CompactMinBytes == 0 {
		o.CompactMinBytes = 64 << 20
	}
	if o.MaxDeadBytes == 0 {
		o.MaxDeadBytes = o.MaxBytes / 10
	}
	if o.MaxDeadBytes < 0 {
		return o, fmt.Errorf("spool: dead_letter_max_bytes %d is negative", o.MaxDeadBytes)
	}
	switch {
	case o.ReserveBytes == 0:
		o.ReserveBytes = DefaultReserveBytes
	case o.ReserveBytes < 0:
		o.ReserveBytes = 0
	}
	return o, nil
}

func (s *Spool) start() {
	s.space = make(chan struct{})
	s.notify = make(chan struct{}, 1)
	s.reqs = make(chan *appendReq, maxGroupReqs)
	s.stop = make(chan struct{})
	s.loopQuit = make(chan struct{})
	s.loopDone = make(chan struct{})
	go s.commitLoop()
}

// openFile opens s.path, quarantining it once if it is corrupt.
func (s *Spool) openFile() error {
	db, err := s.openChecked()
	if errors.Is(err, errCorrupt) {
		if qerr := s.quarantine(err); qerr != nil {
			return qerr
		}
		db, err = s.openChecked()
	}
	if err != nil {
		return err
	}
	s.db, s.pageSize = db, db.Info().PageSize
	return s.writePID()
}

// openChecked opens the file and runs tx.Check; corruption is reported as errCorrupt.
func (s *Spool) openChecked() (*bolt.DB, error) {
	db, err := openBolt(s.path, s.boltOptions())
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, s.inUse()
	}
	if err != nil {
		return nil, classifyOpen(s.path, err)
	}
	if err := checkDB(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%w: %s: check: %w", errCorrupt, s.path, err)
	}
	return db, nil
}

func (s *Spool) boltOptions() *bolt.Options {
	return &bolt.Options{Timeout: s.opts.Timeout, NoSync: s.opts.NoSync, FreelistType: bolt.FreelistMapType}
}

// openBolt opens path. bbolt panics on some corrupt pages (for example a garbage freelist read
// while opening); such a file is reported as corrupt so Open can quarantine it instead of
// crash-looping the agent.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: bbolt panicked: %v", errCorrupt, path, r)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// classifyOpen marks bbolt's "this is not a valid database" errors as corruption. OS errors
// (permissions, missing directory, ...) are returned as they are: moving the file aside would
// not fix them.
func classifyOpen(path string, err error) error {
	corrupt := errors.Is(err, errCorrupt) || errors.Is(err, berrors.ErrInvalid) ||
		errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, berrors.ErrChecksum) ||
		strings.Contains(err.Error(), "file size too small")
	if corrupt && !errors.Is(err, errCorrupt) {
		return fmt.Errorf("%w: %s: %w", errCorrupt, path, err)
	}
	if corrupt {
		return err
	}
	return fmt.Errorf("spool: open %s: %w", path, err)
}

// checkDB runs bbolt's consistency check and joins what it reports.
func checkDB(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// quarantine moves the corrupt file aside, logs and counts it.
func (s *Spool) quarantine(cause error) error {
	dst := s.path + ".corrupt-" + s.now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(s.path, dst); err != nil {
		return fmt.Errorf("spool: quarantine %s: %w (cause: %w)", s.path, err, cause)
	}
	s.st.quarant++
	s.log.Error("spool file corrupt: moved aside, starting a fresh spool; recover its rows with `pbi-pusher spool salvage`",
		"path", s.path, "quarantined", dst, "err", cause)
	return nil
}

func (s *Spool) pidPath() string { return s.path + ".pid" }

func (s *Spool) writePID() error {
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := os.WriteFile(s.pidPath(), pid, 0o600); err != nil {
		_ = s.db.Close()
		return fmt.Errorf("spool: write pid file: %w", err)
	}
	return nil
}

// inUse builds the ErrInUse error, naming the holder's pid when the sidecar says it.
func (s *Spool) inUse() error {
	b, err := os.ReadFile(s.pidPath())
	pid := strings.TrimSpace(string(b))
	if err != nil || pid == "" {
		return fmt.Errorf("%w: %s is locked by another process (no pid file)", ErrInUse, s.path)
	}
	return fmt.Errorf("%w by pid %s: %s (waited %v)", ErrInUse, pid, s.path, s.opts.Timeout)
}

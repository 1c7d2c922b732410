package spool

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
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
//
// The file is untrusted until checked: Open validates its meta pages against the file size
// before bbolt maps it and opens and loads it with faults turned into errors
// (debug.SetPanicOnFault), so a damaged file is quarantined instead of killing the process. The
// full structural check (pread, never through the mapping) and the scan of every row run at
// Open for a small file (Options.FullCheckMaxBytes of used pages); a larger one opens on its
// clean-shutdown marker, or after an unclean stop on estimates (a few page reads) with the
// check and the scan in the background while delivery runs (Stats().Checking): their result
// replaces the estimates, or, when they find damage, the file is moved aside and its rows
// salvaged into a fresh one (runCheck). With Options.ReadOnly nothing is written and a damaged
// file is an error, not moved.
func Open(path string, opts Options) (*Spool, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	s := &Spool{path: path, opts: opts, log: opts.Logger, st: newState()}
	how, err := s.openFile()
	if err != nil {
		return nil, err
	}
	if err := s.load(how); err != nil {
		_ = s.db.Close()
		s.db = nil
		if !errors.Is(err, errCorrupt) || opts.ReadOnly {
			return nil, err
		}
		if err := s.quarantine(err); err != nil { // a fault while loading: start fresh
			return nil, err
		}
		if _, err := s.openFile(); err != nil {
			return nil, err
		}
		if err := s.load(openHow{}); err != nil {
			_ = s.db.Close()
			return nil, err
		}
	}
	if !opts.ReadOnly && s.chk == nil {
		if _, err := s.compactLocked(); err != nil {
			s.log.Warn("spool compaction at open failed", "path", path, "err", err)
		}
	}
	s.start()
	switch {
	case s.chk != nil && opts.ReadOnly: // inspection: estimates only, no check reading the file
		s.chk.abandon()
	case s.chk != nil:
		go s.runCheck(s.chk)
	}
	return s, nil
}

// openHow is what validate decided: open on the clean-shutdown marker (clean), or on estimates
// with the full check and row scan in the background (deferred), or neither: the full check has
// passed and load scans every row.
type openHow struct {
	clean    *cleanMarker
	deferred bool
	sum      *openSummary // deferred: the pages Open reads, checked, and the estimate's edges
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
	if o.FullCheckMaxBytes == 0 {
		o.FullCheckMaxBytes = DefaultFullCheckMaxBytes
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

// openFile validates s.path and opens it with bbolt, quarantining a corrupt file once (in
// read-only mode the corruption is returned instead). It returns how load rebuilds the state.
func (s *Spool) openFile() (openHow, error) {
	how, err := s.validate()
	if err == nil {
		err = s.openDB()
	}
	if errors.Is(err, errCorrupt) && !s.opts.ReadOnly {
		if qerr := s.quarantine(err); qerr != nil {
			return openHow{}, qerr
		}
		how, err = openHow{}, s.openDB()
	}
	if err != nil {
		return openHow{}, err
	}
	if s.opts.ReadOnly {
		return how, nil
	}
	return how, s.writePID()
}

// validate checks the file before bbolt maps it, holding the file lock meanwhile: the meta pages
// against the file size always. A file whose used pages come to at most
// Options.FullCheckMaxBytes gets the full structural check now (tens of milliseconds) and load
// scans its rows. A larger one opens on its clean-shutdown marker alone when that is current;
// without one (an unclean stop) the freelist and every page Open reads through bbolt are checked
// now (summarize: a few page reads per queue), and the full structural check and the scan of
// every row run in the background once Open returns (runCheck). A missing or empty file is
// valid (bbolt creates it).
func (s *Spool) validate() (openHow, error) {
	unlock, err := s.lockFile()
	if err != nil || unlock == nil {
		return openHow{}, err
	}
	defer unlock()
	pf, err := openPageFile(s.path)
	if err != nil || pf == nil {
		return openHow{}, err
	}
	defer pf.close()
	// Used pages, not the file size: bbolt grows the file 16 MiB ahead of its last page, so a
	// file of a few rows would otherwise never count as small.
	large := s.opts.FullCheckMaxBytes < 0 || pf.usedBytes() > s.opts.FullCheckMaxBytes
	if clean := readClean(pf); clean != nil && large {
		return openHow{clean: clean}, nil
	}
	if large {
		err := pf.checkFreelist()
		var sum *openSummary
		if err == nil {
			sum, err = pf.summarize()
		}
		if err != nil {
			return openHow{}, fmt.Errorf("%w: %s: check: %w", errCorrupt, s.path, err)
		}
		return openHow{deferred: true, sum: sum}, nil
	}
	if err := pf.check(); err != nil {
		return openHow{}, fmt.Errorf("%w: %s: check: %w", errCorrupt, s.path, err)
	}
	return openHow{}, nil // load scans every row, checking each
}

// lockFile takes the lock bbolt uses (flock: exclusive, shared when read-only) on the existing
// file, waiting up to Options.Timeout. It returns a nil unlock when there is no file yet.
func (s *Spool) lockFile() (func(), error) {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool: open %s: %w", s.path, err)
	}
	how := syscall.LOCK_EX
	if s.opts.ReadOnly {
		how = syscall.LOCK_SH
	}
	deadline := time.Now().Add(s.opts.Timeout)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil // closing the descriptor releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			_ = f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, s.inUse()
			}
			return nil, fmt.Errorf("spool: lock %s: %w", s.path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openDB opens the validated file with bbolt; a fault or panic while bbolt reads it is an error.
func (s *Spool) openDB() error {
	var db *bolt.DB
	err := protect(func() error {
		var err error
		db, err = bolt.Open(s.path, 0o600, s.boltOptions())
		return err
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return s.inUse()
	}
	if err != nil {
		return classifyOpen(s.path, err)
	}
	s.db, s.pageSize = db, db.Info().PageSize
	return nil
}

func (s *Spool) boltOptions() *bolt.Options {
	return &bolt.Options{Timeout: s.opts.Timeout, NoSync: s.opts.NoSync, FreelistType: bolt.FreelistMapType,
		ReadOnly: s.opts.ReadOnly, InitialMmapSize: initialMmapSize}
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

// quarantine moves the corrupt file aside, logs and counts it.
func (s *Spool) quarantine(cause error) error {
	dst, err := s.moveAside(cause)
	if err != nil {
		return err
	}
	s.log.Error("spool file corrupt: moved aside, starting a fresh spool; recover its rows with `pbi-pusher spool salvage`",
		"path", s.path, "quarantined", dst, "err", cause)
	return nil
}

// moveAside renames the corrupt file to PATH.corrupt-<time> and counts it.
func (s *Spool) moveAside(cause error) (string, error) {
	dst := s.path + ".corrupt-" + s.now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(s.path, dst); err != nil {
		return "", fmt.Errorf("spool: quarantine %s: %w (cause: %w)", s.path, err, cause)
	}
	s.mu.Lock()
	s.st.quarant++
	s.mu.Unlock()
	return dst, nil
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

// initialMmapSize is the address space bbolt maps from the start (not memory: pages are only
// resident once touched). Without it bbolt re-maps the file each time it doubles, and every
// re-map inside a write transaction copies all of that transaction's nodes onto the heap: a
// fresh spool's first 16 MiB request re-mapped about ten times and peaked at +94 MiB of RSS.
// A side effect: bbolt then grows the file AllocSize (16 MiB) ahead of its last page (a sparse
// truncate, no disk used), so accounting must read used pages, not the file size (usedBytes).
const initialMmapSize = 1 << 30

package spool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// compactTxBytes bounds each transaction of bolt.Compact.
const compactTxBytes = 64 << 20

// MaybeCompact rewrites the file when it is mostly free pages (at least half of it, and the
// file is at least Options.CompactMinBytes): bbolt never shrinks its file, so after a large
// backlog drains this gives the disk back. It copies the live data into PATH.compact and
// renames it over PATH; every other call waits meanwhile, so call it when the pipeline is idle.
// Open runs it too. Returns whether it compacted.
func (s *Spool) MaybeCompact(ctx context.Context) (bool, error) {
	s.dbmu.Lock()
	defer s.dbmu.Unlock()
	if s.db == nil {
		return false, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("spool: compact: %w", err)
	}
	if s.checking() { // the background check holds a snapshot of this file
		return false, nil
	}
	return s.compactLocked()
}

// compactLocked holds dbmu exclusively (or runs inside Open, before anyone else has s).
func (s *Spool) compactLocked() (bool, error) {
	size, free, err := s.freeBytes()
	if err != nil || size < s.opts.CompactMinBytes || free*2 < size {
		return false, err
	}
	if avail, err := s.fsAvail(); err == nil && avail < size-free+s.opts.ReserveBytes {
		s.log.Info("spool compaction skipped: not enough free disk for the copy", "path", s.path,
			"live_bytes", size-free, "available_bytes", avail)
		return false, nil
	}
	tmp := s.path + ".compact"
	if err := s.compactInto(tmp); err != nil {
		_ = os.Remove(tmp)
		return false, fmt.Errorf("spool: compact %s: %w", s.path, err)
	}
	if err := s.swapIn(tmp); err != nil {
		return false, err
	}
	after, _, _ := s.freeBytes()
	s.mu.Lock()
	s.st.compacts++
	s.mu.Unlock()
	s.log.Info("spool compacted", "path", s.path, "bytes_before", size, "bytes_after", after)
	return true, nil
}

// freeBytes returns the bytes of the file bbolt has used (up to its last allocated page) and
// those of them in free or pending pages. The file itself may be larger: bbolt grows it ahead of
// the last page by a sparse truncate (see initialMmapSize), space that holds nothing, takes no
// disk and that no compaction could give back.
func (s *Spool) freeBytes() (used, free int64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		used = tx.Size()
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("spool: compact: %w", err)
	}
	st := s.db.Stats()
	return used, int64(st.FreePageN+st.PendingPageN) * int64(s.pageSize), nil
}

// compactInto copies the live data into tmp and cuts tmp after its last used page, so the
// compacted file's size is its data (bbolt grows it ahead again on its next write).
func (s *Spool) compactInto(tmp string) error {
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return err
	}
	dst, err := bolt.Open(tmp, 0o600, s.boltOptions())
	if err != nil {
		return err
	}
	var used int64
	if err := bolt.Compact(dst, s.db, compactTxBytes); err != nil {
		_ = dst.Close()
		return err
	}
	if err := dst.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		_ = dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return truncateSync(tmp, used)
}

// truncateSync cuts the file at path to size bytes, durably.
func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// swapIn opens the compacted copy tmp, renames it over the spool file and only then closes the
// old handle. Every step that can fail comes before the old handle is given up, so a failure
// leaves the spool on its old file (tmp removed) and never without a handle. Each handle holds
// the lock of its own inode: the new one locks PATH from the moment of the rename.
func (s *Spool) swapIn(tmp string) error {
	db, err := s.openCopy(tmp)
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("spool: compact: open the compacted copy: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		_ = db.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("spool: compact: rename: %w", err)
	}
	syncDir(filepath.Dir(s.path))
	old := s.db
	s.db, s.pageSize = db, db.Info().PageSize
	if err := old.Close(); err != nil {
		s.log.Warn("spool: closing the file replaced by compaction", "path", s.path, "err", err)
	}
	return nil
}

// openCopy opens the compacted copy (s.failCopyOpen lets a test make it fail).
func (s *Spool) openCopy(tmp string) (*bolt.DB, error) {
	if s.failCopyOpen != nil {
		if err := s.failCopyOpen(); err != nil {
			return nil, err
		}
	}
	return bolt.Open(tmp, 0o600, s.boltOptions())
}

// syncDir makes a rename durable; best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

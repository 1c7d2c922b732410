package filesrc

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// opened is a file a reader has claimed.
type opened struct {
	f     *os.File
	id    fileID
	start int64 // where reading resumes
}

// openClaimed opens path and claims its file; nil, nil if another path's reader owns it. The
// start offset is the known offset of the file, or 0 if the file is now shorter than that.
func (s *Source) openClaimed(path string) (*opened, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	id, size, err := statID(f)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	start, ok := s.reg.claim(id, path)
	if !ok {
		_ = f.Close()
		return nil, nil
	}
	if start > size {
		s.log.Warn("file is shorter than its checkpoint: truncated, reading it from the start",
			"path", path, "checkpoint", start, "size", size)
		start = 0
	}
	return &opened{f: f, id: id, start: start}, nil
}

// close closes the file and ends the claim.
func (s *Source) close(o *opened) {
	_ = o.f.Close() // read-only
	s.reg.release(o.id)
}

// readFile reads the open file f (identity id, named path) from start until it ends (one-shot
// EOF, rotation) or ctx ends; a truncation restarts it at 0.
func (s *Source) readFile(ctx context.Context, path string, f *os.File, id fileID, start int64) (endReason, error) {
	for {
		reason, err := s.readPass(ctx, path, f, id, start)
		if err != nil || reason != endTruncated {
			return reason, err
		}
		s.log.Warn("file truncated, reading it from the start", "path", path)
		start = 0
	}
}

func (s *Source) readPass(ctx context.Context, path string, f *os.File, id fileID, start int64) (endReason, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr := newTailReader(rctx, f, path, s.cfg.Follow, s.opts.PollInterval)
	dec, err := ingest.NewDecoder(s.format(path), tr, ingest.DecoderOptions{Skip: start, Encoding: s.cfg.Encoding, Deferred: true})
	if ctx.Err() != nil {
		return endCanceled, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if check := s.opts.CheckFields; check != nil {
		dec = ingest.WatchFields(dec, func(fields []string, header bool) error {
			check(path, fields, header)
			return nil // records that map to no column are dead-lettered one by one
		})
	}
	p := newPump(dec, s.opts.BatchSize, s.fileFlush(path, id))
	p.halted, p.stopRead = tr.halted, cancel
	err = p.run(rctx)
	if ctx.Err() != nil {
		return endCanceled, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return tr.reason, nil
}

// fileFlush writes records of one file with the checkpoint just past the last of them.
func (s *Source) fileFlush(path string, id fileID) flushFunc {
	key := checkpointKey(path)
	return func(ctx context.Context, recs []ingest.Record) error {
		off := recs[len(recs)-1].Offset
		cps := map[string][]byte{key: encodeCheckpoint(id, off)}
		if _, err := s.opts.Writer.Write(ctx, path, recs, cps); err != nil {
			return &writeError{fmt.Errorf("write %d records: %w", len(recs), err)}
		}
		s.reg.advance(id, off)
		return nil
	}
}

// seed loads the checkpoints of paths into the registry: for each identity not known yet, the
// highest offset any of them records. When warn is set it reports checkpoints whose file no
// matched path holds any more. A checkpoint that cannot be read (the spool failed) is an error:
// reading that file from its start would send its rows again.
func (s *Source) seed(paths []string, live map[fileID]bool, warn bool) error {
	found := map[fileID]int64{}
	for _, p := range paths {
		cp, ok, err := s.readCheckpoint(p)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if warn && !live[cp.fileID] && !s.reg.known(cp.fileID) {
			s.log.Warn("checkpointed file is no longer at any matched path; lines after the checkpoint in it are not read",
				"path", p, "file", cp.fileID.String(), "offset", cp.Offset)
		}
		found[cp.fileID] = max(found[cp.fileID], cp.Offset)
	}
	for id, off := range found {
		s.reg.seed(id, off)
	}
	return nil
}

// readCheckpoint reads the checkpoint of path; false when there is none or it cannot be used,
// an error when the spool cannot be read.
func (s *Source) readCheckpoint(path string) (checkpoint, bool, error) {
	b, err := s.opts.Checkpoints.Meta(checkpointKey(path))
	if err != nil {
		return checkpoint{}, false, &writeError{fmt.Errorf("read the checkpoint of %s: %w", path, err)}
	}
	if b == nil {
		return checkpoint{}, false, nil
	}
	cp, err := decodeCheckpoint(b)
	if err != nil {
		s.log.Warn("bad checkpoint, reading the file from the start", "path", path, "err", err)
		return checkpoint{}, false, nil
	}
	return cp, true, nil
}

// liveIDs returns the identities of the files at paths.
func liveIDs(paths []string) map[fileID]bool {
	live := make(map[fileID]bool, len(paths))
	for _, p := range paths {
		if id, err := pathID(p); err == nil {
			live[id] = true
		}
	}
	return live
}

// fatal reports whether err must stop the source (the spool failed) rather than one file.
func fatal(err error) bool {
	var we *writeError
	return errors.As(err, &we)
}

package filesrc

import (
	"context"
	"fmt"
	"os"

	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// stdinSource is the source name of stdin records (dead letters say stdin:LINE).
const stdinSource = "stdin"

// runStdin reads Options.Stdin to EOF. A read from a terminal or pipe cannot be interrupted, so
// when ctx ends first Run returns and the reading goroutine ends with the process or the input.
func (s *Source) runStdin(ctx context.Context) error {
	r := s.opts.Stdin
	if r == nil {
		r = os.Stdin
	}
	if path, f, ok := ingest.StdinFile(r); ok && s.opts.Checkpoints != nil {
		return s.readStdinFile(ctx, path, f)
	}
	dec, err := ingest.NewDecoder(s.format(""), r, ingest.DecoderOptions{Encoding: s.cfg.Encoding, Deferred: true})
	if err != nil {
		return fmt.Errorf("stdin: %w", err)
	}
	if check := s.opts.CheckFields; check != nil {
		dec = ingest.WatchFields(dec, func(fields []string, header bool) error {
			check(stdinSource, fields, header)
			return nil
		})
	}
	p := newPump(dec, s.opts.BatchSize, s.stdinFlush)
	p.detach = true
	if err := p.run(ctx); err != nil {
		return fmt.Errorf("stdin: %w", err)
	}
	s.log.Info("stdin ended")
	return nil
}

func (s *Source) stdinFlush(ctx context.Context, recs []ingest.Record) error {
	if _, err := s.opts.Writer.Write(ctx, stdinSource, recs, nil); err != nil {
		return &writeError{fmt.Errorf("write %d stdin records: %w", len(recs), err)}
	}
	return nil
}

// readStdinFile reads stdin redirected from the regular file at path like a file source reads
// it once: from the file's checkpoint (shared with backfill and file sources) to its end, with
// the checkpoint advancing in the same spool writes as the rows.
func (s *Source) readStdinFile(ctx context.Context, path string, f *os.File) error {
	id, size, err := statID(f)
	if err != nil {
		return fmt.Errorf("stdin: %w", err)
	}
	start := int64(0)
	cp, ok, err := s.readCheckpoint(path)
	if err != nil {
		return err
	}
	if ok && cp.fileID == id && cp.Offset <= size {
		start = cp.Offset
	}
	s.reg.seed(id, start)
	if _, ok := s.reg.claim(id, path); !ok {
		return nil
	}
	defer s.reg.release(id)
	s.log.Info("stdin is a file: reading it with its checkpoint", "path", path, "offset", start)
	if _, err := s.readFile(ctx, path, f, id, start); err != nil {
		return fmt.Errorf("stdin: %w", err)
	}
	s.log.Info("stdin ended")
	return nil
}

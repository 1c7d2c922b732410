package filesrc

import (
	"context"
	"fmt"
)

// runOnce reads every matched file from its checkpoint to its end, one after the other. A file
// that cannot be read is reported and skipped; a failing RecordWriter stops the source.
func (s *Source) runOnce(ctx context.Context) error {
	paths, err := expand(s.cfg.Paths)
	if err != nil {
		return err
	}
	if err := s.seed(paths, liveIDs(paths), true); err != nil {
		return err
	}
	if err := s.anchor(ctx, paths); err != nil {
		return err
	}
	for _, p := range paths {
		err := s.readOnce(ctx, p)
		if ctx.Err() != nil || fatal(err) {
			return err
		}
		if err != nil {
			s.log.Warn("file skipped", "path", p, "err", err)
		}
	}
	s.log.Info("all files read", "files", len(paths))
	return nil
}

func (s *Source) readOnce(ctx context.Context, path string) error {
	o, err := s.openClaimed(path)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	if o == nil {
		return nil
	}
	defer s.close(o)
	if _, err := s.readFile(ctx, path, o.f, o.id, o.start); err != nil {
		return err
	}
	return s.handOver(ctx, path, o.id)
}

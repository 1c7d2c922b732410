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
	dec, err := ingest.NewDecoder(s.format(""), r, ingest.DecoderOptions{Encoding: s.cfg.Encoding})
	if err != nil {
		return fmt.Errorf("stdin: %w", err)
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

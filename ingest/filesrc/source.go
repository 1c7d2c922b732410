package filesrc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// Source is a file or stdin source. Create it with New and start it with Run.
type Source struct {
	cfg  config.Source
	opts Options
	log  *slog.Logger
	reg  *registry
}

// New checks cfg (type file or stdin) and opts and returns a Source.
func New(cfg config.Source, opts Options) (*Source, error) {
	opts = opts.withDefaults()
	if err := check(cfg, opts); err != nil {
		return nil, fmt.Errorf("%s source %q: %w", cfg.Type, cfg.Table, err)
	}
	s := &Source{cfg: cfg, opts: opts, reg: newRegistry()}
	s.log = opts.Logger.With("source", cfg.Type, "table", cfg.Table)
	return s, nil
}

func check(cfg config.Source, opts Options) error {
	if opts.Writer == nil {
		return errors.New("no record writer")
	}
	if f := cfg.Format; f != "" && f != "jsonl" && f != "csv" {
		return fmt.Errorf("unknown format %q (want jsonl or csv)", f)
	}
	switch cfg.Type {
	case "stdin":
		return nil
	case "file":
	default:
		return fmt.Errorf("unsupported type %q", cfg.Type)
	}
	if !identitySupported {
		return errors.New("file sources need device/inode file identities (unix only)")
	}
	if len(cfg.Paths) == 0 {
		return errors.New("no paths")
	}
	if opts.Checkpoints == nil {
		return errors.New("no checkpoint reader")
	}
	for _, p := range cfg.Paths {
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("path %q: %w", p, err)
		}
	}
	return nil
}

// Run reads until ctx ends (nil), or, for follow: false and stdin, until the input is fully read
// and written (nil). It returns an error when the RecordWriter fails: the source cannot make
// progress without a working spool.
func (s *Source) Run(ctx context.Context) error {
	s.log.Info("source started", "paths", s.cfg.Paths, "follow", s.cfg.Follow)
	defer s.log.Info("source stopped")
	var err error
	switch {
	case s.cfg.Type == "stdin":
		err = s.runStdin(ctx)
	case s.cfg.Follow:
		err = s.runFollow(ctx)
	default:
		err = s.runOnce(ctx)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// format is the configured format, else the one the file name suggests, else jsonl.
func (s *Source) format(path string) string {
	if s.cfg.Format != "" {
		return s.cfg.Format
	}
	if path != "" {
		if f, ok := ingest.FormatFromPath(path); ok {
			return f
		}
	}
	return "jsonl"
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/schema"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// ErrInput marks a problem with the command line or an input found before anything was spooled
// or sent (a missing file, an underivable format, a header no column matches): a usage error.
var ErrInput = errors.New("input refused")

// headerScan is how many records CheckInputs reads at most to find a file's field names.
const headerScan = 1000

// InputOptions name the inputs of a backfill or dry run.
type InputOptions struct {
	Table    string // DATASET/TABLE
	Format   string // jsonl | csv | "" (from each path's extension)
	Encoding string
	Paths    []string // "-" is stdin: its format must be given; its header is checked as it is read
}

// CheckInputs checks the inputs of a backfill before anything is opened: the table exists, each
// path's format is known, each file exists and its header (CSV) or first record's fields (JSON)
// map onto the table. Every error wraps ErrInput. It returns the notes to log once per file: a
// partial mapping (WARN) and fields mapped by case only.
func CheckInputs(cfg *config.Config, o InputOptions) ([]HeaderNote, error) {
	ds, t, err := cfg.FindTable(o.Table)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	table, err := schema.Compile(*t)
	if err != nil {
		return nil, fmt.Errorf("%w: dataset %s table %s: %w", ErrInput, ds.Name, t.Name, err)
	}
	var notes []HeaderNote
	for _, path := range o.Paths {
		format, err := inputFormat(o.Format, path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInput, err)
		}
		if path == "-" {
			if _, err := ingest.NewDecoder(format, eofReader{}, ingest.DecoderOptions{Encoding: o.Encoding}); err != nil {
				return nil, fmt.Errorf("%w: stdin: %w", ErrInput, err)
			}
			continue
		}
		n, err := checkFile(table, o.Table, path, format, o.Encoding)
		if err != nil {
			return nil, err
		}
		notes = append(notes, n...)
	}
	return notes, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func checkFile(table *schema.Table, ref, path, format, encoding string) ([]HeaderNote, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	defer f.Close()
	var notes []HeaderNote
	var found bool
	dec, err := ingest.NewDecoder(format, f, ingest.DecoderOptions{Encoding: encoding})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInput, path, err)
	}
	dec = ingest.WatchFields(dec, func(fields []string, header bool) error {
		found = true
		notes, err = headerNotes(table, ref, path, fields, header)
		return err
	})
	for i := 0; i < headerScan && !found; i++ {
		if _, err := dec.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if errors.Is(err, ErrInput) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s: %w", ErrInput, path, err)
		}
	}
	return notes, nil
}

// HeaderNote is something to log once about an input's header.
type HeaderNote struct {
	Warn bool   // a partial mapping (WARN); else a case-only mapping (INFO)
	Path string // the input
	Msg  string
}

// headerNotes checks fields against the table: none mapped is an ErrInput error.
//
// A CSV header that leaves fields unmapped or columns unfilled is a partial mapping; the fields of
// a first JSON record are one only when some field is unmapped (a JSON record may omit optional
// fields).
func headerNotes(table *schema.Table, ref, path string, fields []string, header bool) ([]HeaderNote, error) {
	m := table.MatchFields(fields)
	if m.None() {
		return nil, fmt.Errorf("%w: %s: %s", ErrInput, path, m.Refusal(ref))
	}
	var notes []HeaderNote
	if m.Partial() && (header || len(m.Unmapped) > 0) {
		notes = append(notes, HeaderNote{Warn: true, Path: path, Msg: m.Warning(ref)})
	}
	if n := m.CaseNote(ref); n != "" {
		notes = append(notes, HeaderNote{Path: path, Msg: n})
	}
	return notes, nil
}

// LogHeaderNotes logs each note once: a partial mapping as WARN, a case-only mapping as INFO.
func LogHeaderNotes(log *slog.Logger, notes []HeaderNote) {
	for _, n := range notes {
		level := slog.LevelInfo
		if n.Warn {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, n.Msg, "input", n.Path)
	}
}

// FieldChecker returns the filesrc CheckFields of a `run` source writing to table ref: a header
// that maps onto no column is logged as ERROR once (its records are dead-lettered, each "no field
// matched a column"); a partial or case-only mapping is logged once as for backfill.
func (p *Pipeline) FieldChecker(ref string, log *slog.Logger) func(input string, fields []string, header bool) {
	ds, t, err := p.cfg.FindTable(ref)
	if err != nil {
		return nil
	}
	table := p.tables[spool.QueueKey{Dataset: ds.Name, Table: t.Name}]
	if table == nil {
		return nil
	}
	return func(input string, fields []string, header bool) {
		notes, err := headerNotes(table, ref, input, fields, header)
		if err != nil {
			log.Error("input refused: no field maps to a column; its records are dead-lettered",
				"input", input, "err", strings.TrimPrefix(err.Error(), ErrInput.Error()+": "))
			return
		}
		LogHeaderNotes(log, notes)
	}
}

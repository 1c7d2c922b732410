package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/schema"
)

// inferSample is what runSchemaInfer learned from the records it read.
type inferSample struct {
	recs      []map[string]any
	order     []string
	malformed int
}

// runSchemaInfer handles `schema infer [-format jsonl|csv] [-name TABLE] [-sample N] FILE`; args
// start after "infer". It prints a YAML table definition to paste under a dataset's tables:.
// Exit codes: 0 done, 1 the file could not be read or held no usable record, 2 usage error.
func runSchemaInfer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("schema infer", "schema infer [-format jsonl|csv] [-name TABLE] [-sample N] FILE",
		"pbi-pusher schema infer -sample 500 orders.csv   # prints a table to paste under datasets[].tables", stderr)
	format := fs.String("format", "", "input `FORMAT`: jsonl or csv (default: from the file extension, else jsonl)")
	name := fs.String("name", "", "table `NAME` (default: the file name without its extension)")
	sample := fs.Int("sample", 1000, "read at most `N` records")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() != 1 || *sample < 1 || (*format != "" && *format != "jsonl" && *format != "csv") {
		fmt.Fprintln(stderr, "pbi-pusher schema infer: want one FILE, -sample >= 1 and -format jsonl or csv")
		fs.Usage()
		return exitUsage
	}
	path := fs.Arg(0)
	if *format == "" {
		*format = formatOf(path)
	}
	if *name == "" {
		*name = tableName(path)
	}
	s, err := readSample(ctx, path, *format, *sample)
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher schema infer: %v\n", err)
		return exitFatal
	}
	return printInferred(stdout, stderr, path, *name, *format, s)
}

// readSample decodes up to n good records of path, remembering the field order.
func readSample(ctx context.Context, path, format string, n int) (*inferSample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec, err := ingest.NewDecoder(format, f, ingest.DecoderOptions{})
	if err != nil {
		return nil, err
	}
	s := &inferSample{}
	for len(s.recs) < n && ctx.Err() == nil {
		r, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s.add(r, format)
	}
	if h, ok := dec.(interface{ Header() []string }); ok {
		s.order = h.Header()
	}
	return s, ctx.Err()
}

func (s *inferSample) add(r ingest.Record, format string) {
	if r.Err != nil {
		s.malformed++
		return
	}
	s.recs = append(s.recs, r.Fields)
	if format == "jsonl" {
		s.order = append(s.order, schema.KeyOrder(r.Raw)...)
	}
}

func printInferred(stdout, stderr io.Writer, path, name, format string, s *inferSample) int {
	if s.malformed > 0 {
		fmt.Fprintf(stderr, "pbi-pusher schema infer: skipped %d malformed records\n", s.malformed)
	}
	if len(s.recs) == 0 {
		fmt.Fprintf(stderr, "pbi-pusher schema infer: %s: no usable %s records\n", path, format)
		return exitFatal
	}
	t := schema.Infer(name, s.recs, schema.InferOptions{Order: s.order, ParseStrings: format == "csv"})
	if len(t.Columns) > config.MaxColumns {
		fmt.Fprintf(stderr, "pbi-pusher schema infer: %d columns: Power BI allows %d per table; remove some\n",
			len(t.Columns), config.MaxColumns)
	}
	out, err := schema.TableYAML(t)
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher schema infer: %v\n", err)
		return exitFatal
	}
	fmt.Fprintf(stdout, "# inferred by pbi-pusher schema infer from %d records of %s; check the types\n",
		len(s.recs), filepath.Base(path))
	_, _ = stdout.Write(out)
	return exitOK
}

// formatOf guesses the format from the file extension, defaulting to jsonl.
func formatOf(path string) string {
	if f, ok := ingest.FormatFromPath(path); ok {
		return f
	}
	return "jsonl"
}

// tableName derives a valid Power BI table name from a file name.
func tableName(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	name := strings.Map(func(r rune) rune {
		if config.CheckTableName(string(r)) != nil {
			return '_'
		}
		return r
	}, base)
	if r := []rune(name); len(r) > config.MaxTableNameLen {
		name = string(r[:config.MaxTableNameLen])
	}
	if name == "" {
		return "Table"
	}
	return name
}

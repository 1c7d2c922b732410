package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/internal/progress"
	"github.com/pbi-pusher/pbi-pusher/pipeline"
)

const backfillSynopsis = "backfill -config FILE -table DATASET/TABLE [-format jsonl|csv] [-encoding utf-8|utf-16|latin1|windows-1252] [-give-up-after DURATION] [-emulator] [-dry-run] PATH... (- = stdin)"

func runBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("backfill", backfillSynopsis,
		"pbi-pusher backfill -config pbi-pusher.yaml -table Telemetry/Readings readings-2026-11.jsonl", stderr)
	cfgPath := fs.String("config", "", "config file (YAML)")
	table := fs.String("table", "", "target table as DATASET/TABLE")
	format := fs.String("format", "", "input format: jsonl or csv (default: from each file's extension)")
	encoding := fs.String("encoding", "", "text encoding: utf-8 (default), utf-16, latin1 or windows-1252 (a BOM wins)")
	useEmu := fs.Bool("emulator", false, "push into an embedded Power BI emulator instead of the service")
	dryRun := fs.Bool("dry-run", false, "read and validate every row, report bad rows and print the plan; send nothing")
	giveUp := fs.Duration("give-up-after", 0, "exit 1 once Power BI has been unreachable this long (0 = wait as long as it takes; rows read stay spooled)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *table == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "pbi-pusher backfill: -table and at least one PATH are required (see -h)")
		return exitUsage
	}
	if *giveUp < 0 {
		fmt.Fprintf(stderr, "pbi-pusher backfill: -give-up-after must not be negative, not %s\n", *giveUp)
		return exitUsage
	}
	if *format != "" && *format != "jsonl" && *format != "csv" {
		fmt.Fprintf(stderr, "pbi-pusher backfill: -format must be jsonl or csv, not %q\n", *format)
		return exitUsage
	}
	// Credentials are checked below, once it is known whether the embedded emulator is used.
	cfg, ok := loadConfigWith(*cfgPath, config.ValidateOptions{AllowMissingCredentials: true}, stderr)
	if !ok {
		return exitUsage
	}
	if _, _, err := cfg.FindTable(*table); err != nil {
		fmt.Fprintf(stderr, "pbi-pusher backfill: -table: %v\n", err)
		return exitUsage
	}
	log := newLogger(cfg.Log, stderr)
	// Usage errors (format, missing file, a header no column matches) end here, before the
	// spool or the network is touched.
	notes, err := pipeline.CheckInputs(cfg, pipeline.InputOptions{Table: *table, Format: *format, Encoding: *encoding, Paths: fs.Args()})
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher backfill: %v\n", strings.TrimPrefix(err.Error(), pipeline.ErrInput.Error()+": "))
		return exitUsage
	}
	if *dryRun {
		return dryRunBackfill(ctx, cfg, pipeline.DryRunOptions{Table: *table, Format: *format, Encoding: *encoding,
			Paths: fs.Args(), Stdin: os.Stdin}, stdout, stderr)
	}
	pipeline.LogHeaderNotes(log, notes)
	if (*useEmu || noCredentials(cfg)) && cfg.UsesPowerBI() {
		stop, err := startEmbedded(cfg, log)
		if err != nil {
			fmt.Fprintf(stderr, "pbi-pusher backfill: %v\n", err)
			return exitFatal
		}
		defer stop()
	} else if !reportConfigErr(cfg.Validate(), stderr) {
		return exitUsage
	}
	limitMemory(cfg)
	p, err := pipeline.Open(ctx, cfg, pipeline.Options{Logger: log, Prompt: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher backfill: %v\n", err)
		return exitFatal
	}
	defer p.Close()
	// The service's row counts decide the large tier here too; a retention-None dataset's first
	// POST waits for them (pipeline: awaitServiceRows), so backfill must ask as run does.
	if rb := newReadBack(cfg, p, log); rb != nil {
		rbCtx, stopRB := context.WithCancel(ctx)
		defer stopRB()
		go rb.Run(rbCtx)
	}
	tty := progress.IsTerminal(stderr)
	total := estimateRows(fs.Args(), *format)
	disp := progress.New(stderr, tty, total, log)
	interval := 5 * time.Second
	if tty {
		interval = 500 * time.Millisecond
	}
	var byDest map[string]int64
	sum, err := p.Backfill(ctx, pipeline.BackfillOptions{
		Table: *table, Format: *format, Encoding: *encoding, Paths: fs.Args(), Stdin: os.Stdin,
		Progress: func(x pipeline.Progress) { disp.Update(progress.Snapshot(x)) }, Interval: interval, Total: total,
		GiveUpAfter:  *giveUp,
		Destinations: func(m map[string]int64) { byDest = m },
	})
	switch {
	case ctx.Err() != nil:
		disp.Finish("backfill interrupted")
	case err != nil && !errors.Is(err, pipeline.ErrRejectedRows):
		disp.Finish("backfill failed")
	default:
		disp.Done()
	}
	printSummary(stdout, sum, byDest)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, pipeline.ErrInput):
		fmt.Fprintf(stderr, "pbi-pusher backfill: %v\n", err)
		return exitUsage
	case errors.Is(err, pipeline.ErrRejectedRows):
		fmt.Fprintf(stderr, "pbi-pusher backfill: %v\n", err)
		return exitRejected
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "pbi-pusher backfill: interrupted; spooled rows stay in the spool, run the same command again to resume")
		return exitFatal
	default:
		fmt.Fprintf(stderr, "pbi-pusher backfill: %v\n", err)
		return exitFatal
	}
}

// printSummary prints the backfill's summary; byDest (when the table goes to an eventstream)
// adds each destination's delivered rows.
func printSummary(w io.Writer, s pipeline.Summary, byDest map[string]int64) {
	fmt.Fprintf(w, "rows read: %d\nrows delivered: %d\nrows rejected: %d\nelapsed: %s\n",
		s.Read, s.Delivered, s.Rejected, s.Elapsed.Round(time.Millisecond))
	for _, name := range slices.Sorted(maps.Keys(byDest)) {
		fmt.Fprintf(w, "rows delivered to %s: %d\n", name, byDest[name])
	}
	if s.Resumed > 0 {
		fmt.Fprintf(w, "resumed after: %d records already spooled by an earlier run\n", s.Resumed)
	}
}

func dryRunBackfill(ctx context.Context, cfg *config.Config, o pipeline.DryRunOptions, stdout, stderr io.Writer) int {
	plan, err := pipeline.DryRun(ctx, cfg, o)
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher backfill -dry-run: %v\n", err)
		if errors.Is(err, pipeline.ErrInput) {
			return exitUsage
		}
		return exitFatal
	}
	if err := plan.Format(stdout); err != nil {
		return exitFatal
	}
	if plan.Bad > 0 {
		return exitRejected
	}
	return exitOK
}

// estimateRows counts the records of the input files, as the decoders see them (JSON lines: the
// lines that are not blank; CSV: records, quoted line breaks included, less the header), so the
// progress display shows an ETA up front and a resumed run's share. 0 means unknown (stdin).
func estimateRows(paths []string, format string) int64 {
	var total int64
	for _, path := range paths {
		if path == "-" {
			return 0
		}
		f := format
		if f == "" {
			f, _ = ingest.FormatFromPath(path)
		}
		n, err := countRecords(path, f)
		if err != nil {
			return 0
		}
		total += n
	}
	return total
}

// countRecords counts path's records in format (jsonl or csv).
func countRecords(path, format string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if format == "csv" {
		r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
		r.FieldsPerRecord, r.LazyQuotes, r.ReuseRecord = -1, true, true
		var n int64
		for {
			_, err := r.Read()
			if errors.Is(err, io.EOF) {
				return max(n-1, 0), nil // the header is not a record
			}
			if err != nil {
				var pe *csv.ParseError
				if !errors.As(err, &pe) {
					return 0, err
				}
			}
			n++
		}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var n int64
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			n++
		}
	}
	return n, sc.Err()
}

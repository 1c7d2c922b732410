package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/pipeline"
)

const backfillSynopsis = "backfill -config FILE -table DATASET/TABLE [-format jsonl|csv] [-emulator] PATH... (- = stdin)"

func runBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("backfill", backfillSynopsis,
		"pbi-pusher backfill -config pbi-pusher.yaml -table Telemetry/Readings readings-2026-11.jsonl", stderr)
	cfgPath := fs.String("config", "", "config file (YAML)")
	table := fs.String("table", "", "target table as DATASET/TABLE")
	format := fs.String("format", "", "input format: jsonl or csv (default: from each file's extension)")
	useEmu := fs.Bool("emulator", false, "push into an embedded Power BI emulator instead of the service")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *table == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "pbi-pusher backfill: -table and at least one PATH are required (see -h)")
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
	if *useEmu || noCredentials(cfg) {
		stop, err := startEmbedded(cfg, log)
		if err != nil {
			fmt.Fprintf(stderr, "pbi-pusher backfill: %v\n", err)
			return exitFatal
		}
		defer stop()
	} else if !reportConfigErr(cfg.Validate(), stderr) {
		return exitUsage
	}
	p, err := pipeline.Open(ctx, cfg, pipeline.Options{Logger: log, Prompt: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher backfill: %v\n", err)
		return exitFatal
	}
	defer p.Close()
	sum, err := p.Backfill(ctx, pipeline.BackfillOptions{
		Table: *table, Format: *format, Paths: fs.Args(), Stdin: os.Stdin,
		Progress: progressLogger(log), Interval: 5 * time.Second,
	})
	printSummary(stdout, sum)
	switch {
	case err == nil:
		return exitOK
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

func progressLogger(log interface{ Info(string, ...any) }) func(pipeline.Progress) {
	return func(p pipeline.Progress) {
		if p.Reading || p.Backlog > 0 {
			log.Info("backfill progress", "read", p.Read, "delivered", p.Delivered, "rejected", p.Rejected, "backlog", p.Backlog)
		}
	}
}

func printSummary(w io.Writer, s pipeline.Summary) {
	fmt.Fprintf(w, "rows read: %d\nrows delivered: %d\nrows rejected: %d\nelapsed: %s\n",
		s.Read, s.Delivered, s.Rejected, s.Elapsed.Round(time.Millisecond))
	if s.Resumed > 0 {
		fmt.Fprintf(w, "resumed after: %d records already spooled by an earlier run\n", s.Resumed)
	}
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/internal/progress"
)

// newFlagSet returns a flag set whose -h prints the usage line, the flags and an example.
func newFlagSet(name, synopsis, example string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: pbi-pusher %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nexample:\n  %s\n", example)
	}
	return fs
}

// parseFlags parses args; it returns (exit code, done) where done means the caller returns.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	return exitOK, false
}

// loadConfig loads and validates a config, printing a one-line-per-problem error.
func loadConfig(path string, stderr io.Writer) (*config.Config, bool) {
	return loadConfigWith(path, config.ValidateOptions{}, stderr)
}

// loadConfigWith is loadConfig with validation options.
func loadConfigWith(path string, opts config.ValidateOptions, stderr io.Writer) (*config.Config, bool) {
	if path == "" {
		fmt.Fprintln(stderr, "pbi-pusher: -config FILE is required")
		return nil, false
	}
	cfg, err := config.LoadWith(path, opts)
	return cfg, reportConfigErr(err, stderr)
}

// reportConfigErr prints a config error, one problem per line; it reports whether err was nil.
func reportConfigErr(err error, stderr io.Writer) bool {
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher: invalid config: %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return err == nil
}

// newLogger builds the process logger from log.format/log.level: text on a terminal, JSON otherwise.
func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.Format
	if format == "" || format == "auto" {
		format = "json"
		if progress.IsTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// version is set by the linker (-ldflags "-X main.version=1.2.3"); see internal/buildinfo.
var version = "dev"

// adminToken reads admin.token_file ("" when none is configured).
func adminToken(a config.Admin) (string, error) {
	if a.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(a.TokenFile)
	if err != nil {
		return "", fmt.Errorf("admin.token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("admin.token_file %s is empty", a.TokenFile)
	}
	return tok, nil
}

// limitMemory sets the Go runtime's soft memory limit to batch.max_inflight_bytes plus 1 MiB
// per dataset (the memory goal of issue 16) less 8 MiB for what the runtime has not returned to
// the OS yet, unless GOMEMLIMIT is set: the in-flight budget bounds the live heap, and the limit
// keeps the garbage collector from letting the heap grow to twice that before it collects.
func limitMemory(cfg *config.Config) {
	if os.Getenv("GOMEMLIMIT") != "" || cfg.Batch.MaxInflightBytes <= 0 {
		return
	}
	goal := int64(cfg.Batch.MaxInflightBytes) + int64(len(cfg.Datasets))<<20
	debug.SetMemoryLimit(max(goal-8<<20, goal/2))
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/pbi-pusher/pbi-pusher/internal/bench"
)

const benchExample = "go build -o pbi-pusher ./cmd/pbi-pusher && ./pbi-pusher bench"

// runBench measures this machine: every figure beside its physical limit or peer, same run.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o bench.Options
	var restartMB int64
	fs := newFlagSet("bench", "bench [flags]", benchExample, stderr)
	fs.StringVar(&o.Dir, "dir", "", "scratch directory (default: a temporary directory, removed after)")
	fs.StringVar(&o.Peers, "peers", "test/bench/peers", "directory of the peer scripts (push.py, redpanda-connect.yaml)")
	fs.StringVar(&o.Python, "python", "", "python3 for the typical push script (default: python3 on PATH)")
	fs.BoolVar(&o.Redpanda, "redpanda", false, "also build Redpanda Connect from the Go module proxy and run it (slow, needs the network)")
	fs.IntVar(&o.IngestRows, "ingest-rows", 500_000, "rows of the ingest file")
	fs.IntVar(&o.BackfillRows, "backfill-rows", 300_000, "rows of the backfill and kill -9 runs")
	fs.IntVar(&o.RateRows, "rate-rows", 150_000, "rows of the POSTs-per-minute run in 1,000-row POSTs (0 = skip; 150,000 takes about 70 s)")
	fs.IntVar(&o.Datasets, "datasets", 50, "datasets of the memory run")
	fs.IntVar(&o.DatasetRows, "dataset-rows", 40_000, "rows per dataset of the memory run")
	fs.Int64Var(&restartMB, "restart-mb", 1024, "spool size of the cold restart in MB (0 = skip)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 || o.IngestRows < 1000 || o.BackfillRows < 20_000 || o.Datasets < 1 || o.DatasetRows < 1 {
		fmt.Fprintln(stderr, "pbi-pusher bench: no arguments; -ingest-rows >= 1000, -backfill-rows >= 20000, -datasets and -dataset-rows >= 1")
		return exitUsage
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher bench: %v\n", err)
		return exitFatal
	}
	o.Exe, o.RestartBytes, o.Progress = exe, restartMB<<20, stderr
	start := time.Now()
	figs, err := bench.Run(ctx, o)
	fmt.Fprintf(stdout, "pbi-pusher bench, %s, %s %s/%s, %d CPUs, took %s\n\n", time.Now().UTC().Format(time.RFC3339),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), time.Since(start).Round(time.Second))
	bench.Print(stdout, figs)
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher bench: %v\n", err)
		return exitFatal
	}
	return exitOK
}

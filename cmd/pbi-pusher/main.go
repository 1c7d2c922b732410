// Command pbi-pusher streams rows into Power BI push datasets: durably (a bbolt spool), within the
// service's limits, and without losing rows to throttling, restarts or bad input.
//
// main is the only place that wires components, handles signals and exits.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Exit codes shared by every subcommand.
const (
	exitOK       = 0
	exitFatal    = 1 // auth rejected, dataset unusable, I/O failure
	exitUsage    = 2 // bad flags or config
	exitRejected = 3 // finished, but some rows were dead-lettered
)

type command struct {
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	summary string
}

func commands() map[string]command {
	return map[string]command{
		"backfill": {runBackfill, "push every row of files (or stdin) into a table, then exit"},
		"run":      {runDaemon, "run the configured sources as a daemon"},
		"validate": {runValidate, "check a config and its schema offline"},
		"emulator": {runEmulator, "serve the Power BI push API emulator"},
		"spool":    {runSpool, "inspect the spool: stats, dead-letters, replay, salvage"},
		"schema":   {runSchema, "infer a table from a sample; plan/apply schema changes"},
		"verify":   {runVerify, "compare the rows delivered with the rows the service holds"},
		"version":  {runVersion, "print the version"},
		"bench":    {runBench, "measure this machine against the limits and the peers (docs/benchmarks.md)"},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "-version" || args[0] == "--version" {
		args = append([]string{"version"}, args[1:]...)
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "pbi-pusher: unknown command %q (see pbi-pusher -h)\n", args[0])
		return exitUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: pbi-pusher COMMAND [flags]   (pbi-pusher COMMAND -h for a command's flags)")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nexample:\n  pbi-pusher backfill -emulator -config test/testdata/sample.yaml -table Telemetry/Readings test/testdata/sample.jsonl")
}

func runSchema(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" {
		fmt.Fprintln(stderr, "usage: pbi-pusher schema infer|plan|apply [flags]\n\nexample:\n  pbi-pusher schema infer -format jsonl sample.jsonl\n  pbi-pusher schema plan -config pbi-pusher.yaml")
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "infer" {
		return runSchemaInfer(ctx, args[1:], stdout, stderr)
	}
	return runSchemaPlan(ctx, args, stdout, stderr)
}

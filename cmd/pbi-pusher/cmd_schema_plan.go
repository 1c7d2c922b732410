package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pbi-pusher/pbi-pusher/auth"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/sink"
)

// exitChanges is `schema plan -detailed-exitcode`'s code for pending changes (as terraform plan's);
// pending is how schemaPlan reports it, distinct from exitUsage, which is also 2.
const (
	exitChanges = 2
	pending     = -1
)

// runSchemaPlan handles `schema plan` and `schema apply`; args start with "plan" or "apply".
// Exit codes: 0 done, 1 refused or failed against the service, 2 usage or config error.
// `plan -detailed-exitcode`: 0 no changes, 1 any error (usage and config included), 2 changes
// pending.
func runSchemaPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	code := schemaPlan(ctx, args, stdout, stderr)
	switch {
	case code == pending:
		return exitChanges
	case code == exitUsage && len(args) > 0 && args[0] == "plan" && slices.ContainsFunc(args[1:], isDetailedFlag):
		return exitFatal // 2 means "changes pending" there
	}
	return code
}

func isDetailedFlag(a string) bool {
	return a == "-detailed-exitcode" || a == "--detailed-exitcode" || strings.HasPrefix(a, "-detailed-exitcode=") ||
		strings.HasPrefix(a, "--detailed-exitcode=")
}

func schemaPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "plan" && args[0] != "apply") {
		fmt.Fprintln(stderr, "pbi-pusher schema: want plan or apply (see pbi-pusher schema -h)")
		return exitUsage
	}
	apply := args[0] == "apply"
	fs := newFlagSet("schema "+args[0], schemaSynopsis(apply), schemaExample(apply), stderr)
	path := fs.String("config", "", "config `FILE` (required)")
	allow, detailed := new(bool), new(bool)
	if apply {
		fs.BoolVar(allow, "allow-destructive", false, "also change column types and remove columns (may lose data)")
	} else {
		fs.BoolVar(detailed, "detailed-exitcode", false, "exit 0 when nothing would change, 2 when changes are pending, 1 on any error")
	}
	if code, done := parseFlags(fs, args[1:]); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pbi-pusher schema %s: unexpected arguments\n", args[0])
		fs.Usage()
		return exitUsage
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return exitUsage
	}
	client, err := newSchemaClient(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher schema %s: %v\n", args[0], err)
		return exitUsage
	}
	return planAndApply(ctx, client, apply, *allow, *detailed, stdout, stderr)
}

// planAndApply prints the plan and, for apply, carries it out: the additive changes always, the
// destructive ones only with allow (a missing table never).
func planAndApply(ctx context.Context, c *sink.Client, apply, allow, detailed bool, stdout, stderr io.Writer) int {
	changes, err := c.Plan(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher schema plan: %v\n", err)
		return exitFatal
	}
	printPlan(stdout, changes)
	switch {
	case !apply && detailed && len(changes) > 0:
		return pending
	case !apply || len(changes) == 0:
		return exitOK
	}
	applied := 0
	for _, ch := range changes {
		if ch.Kind != sink.MissingTable && (allow || !ch.Destructive()) {
			applied++
		}
	}
	err = c.Apply(ctx, changes, allow)
	if err != nil && !errors.Is(err, sink.ErrSchemaRefused) {
		fmt.Fprintf(stderr, "pbi-pusher schema apply: %v\n", err)
		return exitFatal
	}
	fmt.Fprintf(stdout, "Applied %d change(s).\n", applied)
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher schema apply: %d change(s) not applied: %v\n", len(changes)-applied, err)
		return exitFatal
	}
	return exitOK
}

// newSchemaClient builds a sink client without a spool: ids are resolved by name (or datasets[].id).
func newSchemaClient(cfg *config.Config, stderr io.Writer) (*sink.Client, error) {
	return newSinkClient(cfg, nil, stderr)
}

// newSinkClient builds a sink client; store (nil = none) remembers resolved dataset ids.
func newSinkClient(cfg *config.Config, store sink.MetaStore, stderr io.Writer) (*sink.Client, error) {
	hc, err := auth.HTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	logger := newLogger(cfg.Log, stderr)
	tokens, err := auth.New(cfg, auth.Options{HTTPClient: hc, Logger: logger})
	if err != nil {
		return nil, err
	}
	return sink.New(sink.Options{Config: cfg, Tokens: tokens, Store: store, HTTPClient: hc, Logger: logger})
}

// printPlan lists the changes and what apply would do with them.
func printPlan(w io.Writer, changes []sink.Change) {
	if len(changes) == 0 {
		fmt.Fprintln(w, "No changes: Power BI matches the configuration.")
		return
	}
	var additive, destructive, impossible int
	for _, ch := range changes {
		fmt.Fprintln(w, ch.String())
		switch {
		case ch.Kind == sink.MissingTable:
			impossible++
		case ch.Destructive():
			destructive++
		default:
			additive++
		}
	}
	fmt.Fprintf(w, "\n%d additive, %d destructive (apply needs -allow-destructive), %d impossible "+
		"(tables cannot be added to an existing dataset: a new dataset is needed).\n", additive, destructive, impossible)
}

func schemaSynopsis(apply bool) string {
	if apply {
		return "schema apply -config FILE [-allow-destructive]"
	}
	return "schema plan -config FILE [-detailed-exitcode]"
}

func schemaExample(apply bool) string {
	if apply {
		return "pbi-pusher schema apply -config pbi-pusher.yaml"
	}
	return "pbi-pusher schema plan -config pbi-pusher.yaml"
}

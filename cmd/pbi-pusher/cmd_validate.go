package main

import (
	"context"
	"fmt"
	"io"

	"github.com/pbi-pusher/pbi-pusher/internal/buildinfo"
	"github.com/pbi-pusher/pbi-pusher/schema"
)

func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "validate -config FILE", "pbi-pusher validate -config /etc/pbi-pusher/config.yaml", stderr)
	path := fs.String("config", "", "config file (YAML)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return exitUsage
	}
	tables := 0
	for _, ds := range cfg.Datasets {
		for _, t := range ds.Tables {
			if _, err := schema.Compile(t); err != nil {
				fmt.Fprintf(stderr, "pbi-pusher: dataset %s table %s: %v\n", ds.Name, t.Name, err)
				return exitUsage
			}
			tables++
		}
	}
	fmt.Fprintf(stdout, "%s: ok (%d datasets, %d tables, %d sources, auth %s)\n", cfg.File, len(cfg.Datasets), tables, len(cfg.Sources), cfg.Auth.Method)
	return exitOK
}

// runVersion prints the version, the VCS commit and time of a plain `go build` and the Go version;
// `-json` prints them as JSON.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "version [-json]", "pbi-pusher version", stderr)
	asJSON := fs.Bool("json", false, "JSON output")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	in := buildinfo.Read(version)
	if *asJSON {
		_ = writeJSON(stdout, in)
		return exitOK
	}
	fmt.Fprintf(stdout, "pbi-pusher %s\n", in)
	return exitOK
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/sink"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Exit codes of verify beyond the shared ones.
const (
	exitVerifyExtra   = 4 // the service holds more rows than were delivered, or duplicate keys
	exitVerifyMissing = 5 // the service holds fewer rows than were delivered (retention None)
)

// configList is a repeatable -config flag.
type configList []string

func (l *configList) String() string { return strings.Join(*l, ",") }
func (l *configList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// verifyRow is one table's comparison.
type verifyRow struct {
	Dataset    string `json:"dataset"`
	Table      string `json:"table"`
	Delivered  int64  `json:"delivered"`    // rows the spool(s) saw acknowledged
	Service    int64  `json:"service_rows"` // COUNTROWS at the service
	Difference int64  `json:"difference"`   // service − delivered
	Key        string `json:"key,omitempty"`
	Distinct   *int64 `json:"distinct_keys,omitempty"`  // DISTINCTCOUNT(key)
	Duplicates *int64 `json:"duplicate_rows,omitempty"` // COUNTROWS − DISTINCTCOUNT(key)
	Status     string `json:"status"`                   // ok, extra, missing, fifo-trimmed
}

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("verify", "verify -config FILE [-config FILE ...] [-table DATASET/TABLE] [-key COLUMN] [-json]",
		"pbi-pusher verify -config /etc/pbi-pusher/config.yaml -table sales/orders -key OrderId", stderr)
	var cfgs configList
	fs.Var(&cfgs, "config", "config file (required); repeat it for every instance of a scaled-out dataset: their delivered counts add up")
	table := fs.String("table", "", "only this DATASET/TABLE (default: every configured table)")
	key := fs.String("key", "", "a column that is unique per input row: also count duplicate rows (COUNTROWS − DISTINCTCOUNT)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pbi-pusher verify: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if len(cfgs) == 0 {
		fmt.Fprintln(stderr, "pbi-pusher: -config FILE is required")
		return exitUsage
	}
	cfg, ok := loadConfig(cfgs[0], stderr)
	if !ok {
		return exitUsage
	}
	targets, err := verifyTargets(cfg, *table)
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher verify: %v\n", err)
		return exitUsage
	}
	rows, err := verify(ctx, cfg, cfgs, targets, *key, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pbi-pusher verify: %v\n", err)
		return exitFatal
	}
	if *asJSON {
		if err := writeJSON(stdout, rows); err != nil {
			return exitFatal
		}
	} else {
		printVerify(stdout, rows)
	}
	return verifyCode(rows)
}

// verifyTargets returns the tables to compare: one (-table) or every configured table.
func verifyTargets(cfg *config.Config, only string) ([]spool.QueueKey, error) {
	if only != "" {
		ds, t, err := cfg.FindTable(only)
		if err != nil {
			return nil, err
		}
		return []spool.QueueKey{{Dataset: ds.Name, Table: t.Name}}, nil
	}
	var out []spool.QueueKey
	for _, ds := range cfg.Datasets {
		for _, t := range ds.Tables {
			out = append(out, spool.QueueKey{Dataset: ds.Name, Table: t.Name})
		}
	}
	return out, nil
}

// verify reads the delivered counts of every spool, then asks the service.
func verify(ctx context.Context, cfg *config.Config, cfgs []string, targets []spool.QueueKey, key string, stderr io.Writer) ([]verifyRow, error) {
	delivered := map[spool.QueueKey]int64{}
	var first *spool.Spool
	for i, path := range cfgs {
		s, err := openSpoolOf(path, stderr)
		if err != nil {
			return nil, err
		}
		for _, q := range targets {
			delivered[q] += s.Delivered(q)
		}
		if i == 0 {
			first = s // its remembered dataset ids resolve the datasets
			defer func() { _ = s.Close() }()
		} else {
			_ = s.Close()
		}
	}
	client, err := newSinkClient(cfg, first, stderr)
	if err != nil {
		return nil, err
	}
	out := make([]verifyRow, 0, len(targets))
	for _, q := range targets {
		r := verifyRow{Dataset: q.Dataset, Table: q.Table, Delivered: delivered[q], Key: key}
		if key != "" {
			n, d, err := client.CountKey(ctx, q.Dataset, q.Table, key)
			if err != nil {
				return nil, readBackErr(err)
			}
			dups := n - d
			r.Service, r.Distinct, r.Duplicates = n, &d, &dups
		} else if r.Service, err = client.CountRows(ctx, q.Dataset, q.Table); err != nil {
			return nil, readBackErr(err)
		}
		r.Difference = r.Service - r.Delivered
		r.Status = verifyStatus(cfg, q, r)
		out = append(out, r)
	}
	return out, nil
}

func verifyStatus(cfg *config.Config, q spool.QueueKey, r verifyRow) string {
	switch {
	case r.Difference > 0 || (r.Duplicates != nil && *r.Duplicates > 0):
		return "extra"
	case r.Difference < 0:
		if ds, _, err := cfg.FindTable(q.Dataset + "/" + q.Table); err == nil && strings.EqualFold(ds.Retention, "basicFIFO") {
			return "fifo-trimmed" // basicFIFO keeps the newest rows only
		}
		return "missing"
	}
	return "ok"
}

func readBackErr(err error) error {
	if sink.Classify(err) == sink.Fatal {
		return fmt.Errorf("%w (executeQueries needs the tenant setting \"Dataset Execute Queries REST API\" and read access to the dataset)", err)
	}
	return err
}

// verifyCode is 0 when every table agrees, exitVerifyExtra when one holds more rows than were
// delivered (or duplicate keys), else exitVerifyMissing when one holds fewer.
func verifyCode(rows []verifyRow) int {
	code := exitOK
	for _, r := range rows {
		switch r.Status {
		case "extra":
			return exitVerifyExtra
		case "missing":
			code = exitVerifyMissing
		}
	}
	return code
}

func printVerify(w io.Writer, rows []verifyRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	withKey := len(rows) > 0 && rows[0].Key != ""
	head := "TABLE\tDELIVERED\tSERVICE\tDIFFERENCE\t"
	if withKey {
		head += "DISTINCT " + rows[0].Key + "\tDUPLICATES\t"
	}
	fmt.Fprintln(tw, head+"STATUS\t")
	for _, r := range rows {
		line := fmt.Sprintf("%s/%s\t%d\t%d\t%+d\t", r.Dataset, r.Table, r.Delivered, r.Service, r.Difference)
		if withKey {
			line += fmt.Sprintf("%d\t%d\t", *r.Distinct, *r.Duplicates)
		}
		fmt.Fprintln(tw, line+r.Status+"\t")
	}
	_ = tw.Flush()
}

// openSpoolOf opens the spool of the config at path (the agent must be stopped).
func openSpoolOf(path string, stderr io.Writer) (*spool.Spool, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	if _, err := os.Stat(cfg.Spool.Path); err != nil {
		return nil, fmt.Errorf("no spool file at %q (config %s): %w", cfg.Spool.Path, path, err)
	}
	s, err := spool.Open(cfg.Spool.Path, spool.Options{MaxBytes: int64(cfg.Spool.MaxBytes), WhenFull: cfg.Spool.WhenFull,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if errors.Is(err, spool.ErrInUse) {
		return nil, fmt.Errorf("%w (stop the running agent first, or read service_rows on its /status)", err)
	}
	return s, err
}

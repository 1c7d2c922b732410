package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

const spoolUsage = `Usage: pbi-pusher spool COMMAND [flags]

Inspect and repair the spool file. Stop the agent first: the file is locked while it runs.

Commands:
  stats                      backlog per table (rows, bytes, oldest age) and counters
  dead-letters [-limit N]    list dead-lettered rows with their reasons
  replay -id N [-id N ...]   re-queue dead letters after fixing the cause (or -all)
  salvage FILE               replay every readable row of a quarantined FILE (*.corrupt-*)

Flags (every command):
  -spool PATH    spool file (default: spool.path from -config)
  -config FILE   agent config; its spool section is used
  -json          JSON output

Examples:
  pbi-pusher spool stats -spool /var/lib/pbi-pusher/spool.db
  pbi-pusher spool dead-letters -config pbi-pusher.yaml -limit 20
  pbi-pusher spool replay -config pbi-pusher.yaml -id 17 -id 18
  pbi-pusher spool salvage -spool spool.db spool.db.corrupt-20260102T030405Z
`

// spoolCmd is one parsed `pbi-pusher spool` invocation.
type spoolCmd struct {
	name           string
	spoolPath, cfg string
	json           bool
	limit          int
	ids            idList
	all            bool
	file           string
	stdout, stderr io.Writer
}

// runSpool runs `pbi-pusher spool ...`; args start after "spool". Exit codes: 0 ok, 1 failure,
// 2 usage error.
func runSpool(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, spoolUsage)
		return exitUsage
	}
	if slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]) {
		fmt.Fprint(stdout, spoolUsage)
		return exitOK
	}
	c := &spoolCmd{name: args[0], stdout: stdout, stderr: stderr}
	if code, ok := c.parse(args[1:]); !ok {
		return code
	}
	if err := c.run(ctx); err != nil {
		fmt.Fprintf(stderr, "pbi-pusher spool %s: %v\n", c.name, err)
		return exitFatal
	}
	return exitOK
}

// parse reads the flags; ok=false means return code now.
func (c *spoolCmd) parse(args []string) (code int, ok bool) {
	fs := flag.NewFlagSet("pbi-pusher spool "+c.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, spoolUsage) }
	fs.StringVar(&c.spoolPath, "spool", "", "spool file")
	fs.StringVar(&c.cfg, "config", "", "agent config file")
	fs.BoolVar(&c.json, "json", false, "JSON output")
	switch c.name {
	case "stats", "salvage":
	case "dead-letters":
		fs.IntVar(&c.limit, "limit", 0, "list at most N (0 = all)")
	case "replay":
		fs.Var(&c.ids, "id", "dead letter id (repeatable)")
		fs.BoolVar(&c.all, "all", false, "replay every dead letter")
	default:
		return c.usageError(fmt.Sprintf("unknown command %q", c.name))
	}
	rest, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK, false
	}
	if err != nil {
		return exitUsage, false
	}
	return c.check(rest)
}

// parseInterleaved allows positional arguments before flags (salvage FILE -spool X).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// check validates positional arguments and flag combinations.
func (c *spoolCmd) check(rest []string) (int, bool) {
	switch {
	case c.spoolPath == "" && c.cfg == "":
		return c.usageError("-spool PATH or -config FILE is required")
	case c.name == "salvage" && len(rest) != 1:
		return c.usageError("salvage takes exactly one FILE")
	case c.name != "salvage" && len(rest) > 0:
		return c.usageError(fmt.Sprintf("unexpected arguments %q", rest))
	case c.name == "replay" && (len(c.ids) > 0) == c.all:
		return c.usageError("replay needs -id N (repeatable) or -all")
	case c.limit < 0:
		return c.usageError("-limit must be >= 0")
	}
	if c.name == "salvage" {
		c.file = rest[0]
	}
	return exitOK, true
}

func (c *spoolCmd) usageError(msg string) (int, bool) {
	fmt.Fprintf(c.stderr, "pbi-pusher spool: %s\n\n%s", msg, spoolUsage)
	return exitUsage, false
}

// idList is a repeatable -id flag.
type idList []uint64

func (l *idList) String() string { return fmt.Sprint([]uint64(*l)) }

func (l *idList) Set(s string) error {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return fmt.Errorf("not a dead letter id: %q", s)
	}
	*l = append(*l, id)
	return nil
}

func (c *spoolCmd) run(ctx context.Context) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	switch c.name {
	case "stats":
		return c.stats(s)
	case "dead-letters":
		return c.deadLetters(s)
	case "replay":
		return c.replay(s)
	default:
		return c.salvage(ctx, s)
	}
}

// open opens the spool named by -spool or the config. It refuses to create a missing file.
func (c *spoolCmd) open() (*spool.Spool, error) {
	opts := spool.Options{Logger: slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	path := c.spoolPath
	if c.cfg != "" {
		cfg, err := config.Load(c.cfg)
		if err != nil {
			return nil, fmt.Errorf("load config: %w", err)
		}
		opts.MaxBytes, opts.WhenFull, opts.NoSync = int64(cfg.Spool.MaxBytes), cfg.Spool.WhenFull, cfg.Spool.NoSync
		if path == "" {
			path = cfg.Spool.Path
		}
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no spool file at %q: %w", path, err)
	}
	s, err := spool.Open(path, opts)
	if errors.Is(err, spool.ErrInUse) {
		return nil, fmt.Errorf("%w (stop the running agent first)", err)
	}
	return s, err
}

// queueRow is one line of `spool stats`.
type queueRow struct {
	Dataset      string    `json:"dataset"`
	Table        string    `json:"table"`
	Rows         int       `json:"rows"`
	Bytes        int64     `json:"bytes"`
	Oldest       time.Time `json:"oldest,omitzero"`
	OldestAgeSec float64   `json:"oldest_age_seconds"`
}

// statsOut is `spool stats -json`.
type statsOut struct {
	Path        string     `json:"path"`
	Queues      []queueRow `json:"queues"`
	InFlight    int        `json:"in_flight"`
	DeadLetters int        `json:"dead_letters"`
	Bytes       int64      `json:"bytes"`
	MaxBytes    int64      `json:"max_bytes"`
	FileBytes   int64      `json:"file_bytes"`
	Dropped     int64      `json:"dropped"`
	Requeued    int64      `json:"requeued_after_crash"`
	Quarantined int        `json:"quarantined"`
}

func (c *spoolCmd) stats(s *spool.Spool) error {
	st, now := s.Stats(), time.Now()
	out := statsOut{Path: s.Path(), InFlight: st.InFlight, DeadLetters: st.DeadLetters, Bytes: st.Bytes,
		MaxBytes: st.MaxBytes, FileBytes: st.FileBytes, Dropped: st.Dropped, Requeued: st.Requeued, Quarantined: st.Quarantined}
	for q, b := range st.Queues {
		r := queueRow{Dataset: q.Dataset, Table: q.Table, Rows: b.Rows, Bytes: b.Bytes, Oldest: b.Oldest}
		if !b.Oldest.IsZero() {
			r.OldestAgeSec = now.Sub(b.Oldest).Seconds()
		}
		out.Queues = append(out.Queues, r)
	}
	slices.SortFunc(out.Queues, func(a, b queueRow) int { return strings.Compare(a.Dataset+"/"+a.Table, b.Dataset+"/"+b.Table) })
	if c.json {
		return writeJSON(c.stdout, out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tROWS\tBYTES\tOLDEST AGE")
	for _, r := range out.Queues {
		fmt.Fprintf(tw, "%s/%s\t%d\t%d\t%s\n", r.Dataset, r.Table, r.Rows, r.Bytes, age(r.OldestAgeSec))
	}
	fmt.Fprintf(tw, "\nin flight\t%d\ndead letters\t%d\nspooled bytes\t%d of %d\nfile bytes\t%d\n",
		out.InFlight, out.DeadLetters, out.Bytes, out.MaxBytes, out.FileBytes)
	fmt.Fprintf(tw, "dropped (drop_oldest)\t%d\nre-queued after crash\t%d\n", out.Dropped, out.Requeued)
	return tw.Flush()
}

func age(sec float64) string {
	if sec == 0 {
		return "-"
	}
	return time.Duration(sec * float64(time.Second)).Round(time.Second).String()
}

// deadOut is one dead letter in `spool dead-letters -json`.
type deadOut struct {
	ID       uint64    `json:"id"`
	Dataset  string    `json:"dataset,omitempty"`
	Table    string    `json:"table,omitempty"`
	Position string    `json:"position,omitempty"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
	Data     string    `json:"data"`
}

func (c *spoolCmd) deadLetters(s *spool.Spool) error {
	dls, err := s.DeadLetters(c.limit)
	if err != nil {
		return err
	}
	out := make([]deadOut, len(dls))
	for i, d := range dls {
		out[i] = deadOut{ID: d.ID, Dataset: d.Queue.Dataset, Table: d.Queue.Table, Position: d.Position,
			Reason: d.Reason, At: d.At, Data: string(d.Data)}
	}
	if c.json {
		return writeJSON(c.stdout, out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tQUEUE\tAT\tPOSITION\tREASON\tDATA")
	for _, d := range out {
		queue := "-"
		if d.Dataset != "" {
			queue = d.Dataset + "/" + d.Table
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", d.ID, queue, d.At.Format(time.RFC3339),
			orDash(d.Position), oneLine(d.Reason, 80), oneLine(d.Data, 60))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine escapes line breaks and tabs and shortens s to n runes for table output.
func oneLine(s string, n int) string {
	q := strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
	if r := []rune(q); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return q
}

func (c *spoolCmd) replay(s *spool.Spool) error {
	n, err := s.Replay(c.ids)
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.stdout, map[string]int{"replayed": n})
	}
	_, err = fmt.Fprintf(c.stdout, "replayed %d dead letters into their queues\n", n)
	return err
}

func (c *spoolCmd) salvage(ctx context.Context, s *spool.Spool) error {
	n, err := spool.Salvage(ctx, c.file, s)
	if c.json {
		out := map[string]any{"file": c.file, "into": s.Path(), "rows": n}
		if err != nil {
			out["error"] = err.Error()
		}
		if werr := writeJSON(c.stdout, out); werr != nil {
			return werr
		}
	} else {
		fmt.Fprintf(c.stdout, "salvaged %d rows from %s into %s\n", n, c.file, s.Path())
	}
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pbi-pusher/pbi-pusher/admin"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/pipeline"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

const spoolUsage = `Usage: pbi-pusher spool COMMAND [flags]

Inspect and repair the spool. While the agent runs (the file is locked), stats, dead-letters,
replay and purge ask the running agent through its admin API (found through the config's
admin.listen, or -admin); otherwise they open the file. The output is the same either way.

Commands:
  stats                      backlog per table (rows, bytes, in flight, oldest age) and counters
  dead-letters [filter] [-limit N]
                             list dead-lettered rows with their reasons, oldest first
  replay -id N [-id N ...] | filter | -all
                             re-queue dead letters after fixing the cause
  purge -id N [-id N ...] | filter | -all
                             delete dead letters for good
  salvage FILE               replay every readable row of a quarantined FILE (*.corrupt-*);
                             needs the agent stopped

Filters (dead-letters, replay, purge):
  -table [DATASET/]TABLE     only this table
  -reason TEXT               reason contains TEXT (any case)
  -since T, -until T         dead-lettered at or after T, before T (RFC 3339, or a duration
                             such as 2h meaning that long ago)

Flags (every command):
  -spool PATH    spool file (default: spool.path from -config)
  -config FILE   agent config; its spool and admin sections are used
  -admin ADDR    the running agent's admin address (default: admin.listen from -config)
  -json          JSON output

Examples:
  pbi-pusher spool stats -config /etc/pbi-pusher/config.yaml
  pbi-pusher spool dead-letters -config pbi-pusher.yaml -table Telemetry/Readings -reason "not a date"
  pbi-pusher spool replay -config pbi-pusher.yaml -id 17 -id 18
  pbi-pusher spool purge -config pbi-pusher.yaml -reason decode -until 2026-01-01T00:00:00Z
  pbi-pusher spool salvage -spool spool.db spool.db.corrupt-20260102T030405Z
`

// spoolCmd is one parsed `pbi-pusher spool` invocation.
type spoolCmd struct {
	name           string
	spoolPath, cfg string
	adminAddr      string
	json           bool
	limit          int
	ids            idList
	all            bool
	table, reason  string
	since, until   string
	filter         spool.DeadFilter
	file           string
	queues         []spool.QueueKey // the config's tables (salvage places pages of rows by them)
	stdout, stderr io.Writer
	now            func() time.Time
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
	c := &spoolCmd{name: args[0], stdout: stdout, stderr: stderr, now: time.Now}
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
	fs.StringVar(&c.adminAddr, "admin", "", "the running agent's admin address")
	fs.BoolVar(&c.json, "json", false, "JSON output")
	filters := func() {
		fs.StringVar(&c.table, "table", "", "only this [DATASET/]TABLE")
		fs.StringVar(&c.reason, "reason", "", "reason contains TEXT")
		fs.StringVar(&c.since, "since", "", "dead-lettered at or after T")
		fs.StringVar(&c.until, "until", "", "dead-lettered before T")
	}
	switch c.name {
	case "stats", "salvage":
	case "dead-letters":
		fs.IntVar(&c.limit, "limit", 0, "list at most N (0 = all)")
		filters()
	case "replay", "purge":
		fs.Var(&c.ids, "id", "dead letter id (repeatable)")
		fs.BoolVar(&c.all, "all", false, "every dead letter")
		filters()
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

// check validates positional arguments and flag combinations and builds the filter.
func (c *spoolCmd) check(rest []string) (int, bool) {
	hasFilter := c.table != "" || c.reason != "" || c.since != "" || c.until != ""
	mutating := c.name == "replay" || c.name == "purge"
	switch {
	case c.spoolPath == "" && c.cfg == "" && c.adminAddr == "":
		return c.usageError("-spool PATH, -config FILE or -admin ADDR is required")
	case c.name == "salvage" && len(rest) != 1:
		return c.usageError("salvage takes exactly one FILE")
	case c.name != "salvage" && len(rest) > 0:
		return c.usageError(fmt.Sprintf("unexpected arguments %q", rest))
	case mutating && !c.all && len(c.ids) == 0 && !hasFilter:
		return c.usageError(c.name + " needs -id N (repeatable), a filter (-table, -reason, -since, -until) or -all")
	case mutating && c.all && (len(c.ids) > 0 || hasFilter):
		return c.usageError(c.name + ": -all selects every dead letter; give -id N or filters instead")
	case c.limit < 0:
		return c.usageError("-limit must be >= 0")
	}
	if c.name == "salvage" {
		c.file = rest[0]
	}
	f := spool.DeadFilter{IDs: c.ids, Reason: c.reason, Limit: c.limit}
	if c.table != "" {
		f.Dataset, f.Table = admin.ParseTableRef(c.table)
	}
	for _, tf := range []struct {
		name, val string
		dst       *time.Time
	}{{"-since", c.since, &f.Since}, {"-until", c.until, &f.Until}} {
		if tf.val == "" {
			continue
		}
		t, err := parseWhen(tf.val, c.now())
		if err != nil {
			return c.usageError(fmt.Sprintf("%s: %v", tf.name, err))
		}
		*tf.dst = t
	}
	c.filter = f
	return exitOK, true
}

// parseWhen reads an RFC 3339 time, or a duration meaning that long before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration such as 2h", s)
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

// spoolBackend is where a spool command reads and changes the spool: the file itself, or the
// running agent's admin API when the agent holds the file.
type spoolBackend interface {
	view() (admin.SpoolView, error)
	deadLetters(f spool.DeadFilter) ([]admin.DeadLetterView, error) // every page up to f.Limit
	replay(f spool.DeadFilter, all bool) (int, error)
	purge(f spool.DeadFilter, all bool) (int, error)
}

func (c *spoolCmd) run(ctx context.Context) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	var b spoolBackend
	if c.adminAddr != "" {
		b, err = newAPIBackend(c.adminAddr, cfg)
	} else {
		var s *spool.Spool
		s, err = c.open(cfg)
		if errors.Is(err, spool.ErrInUse) && c.name != "salvage" {
			b, err = c.agentBackend(cfg, err)
		} else if err == nil {
			defer func() { _ = s.Close() }()
			if c.name == "salvage" {
				return c.salvage(ctx, s)
			}
			b = fileBackend{s: s, now: c.now}
		}
	}
	if err != nil {
		return err
	}
	switch c.name {
	case "stats":
		return c.stats(b)
	case "dead-letters":
		return c.deadLetters(b)
	case "replay":
		return c.mutate(b.replay, "replayed", "replayed %d dead letters into their queues\n")
	case "purge":
		return c.mutate(b.purge, "purged", "purged %d dead letters\n")
	}
	return fmt.Errorf("salvage needs the spool file: stop the running agent first")
}

// config loads -config, or returns nil without one.
func (c *spoolCmd) config() (*config.Config, error) {
	if c.cfg == "" {
		return nil, nil
	}
	cfg, err := config.Load(c.cfg)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return cfg, nil
}

// agentBackend is the running agent's API, found through the config's admin.listen.
func (c *spoolCmd) agentBackend(cfg *config.Config, inUse error) (spoolBackend, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w; to ask the running agent, pass -config FILE (its admin.listen) or -admin ADDR", inUse)
	}
	addr, err := adminDialAddr(cfg.Admin.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w; and the running agent cannot be asked: %v", inUse, err)
	}
	return newAPIBackend(addr, cfg)
}

// adminDialAddr turns admin.listen into an address to connect to on this machine.
func adminDialAddr(listen string) (string, error) {
	if listen == "" || listen == "off" {
		return "", errors.New("admin.listen is off")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("admin.listen %q: %w", listen, err)
	}
	if port == "0" {
		return "", fmt.Errorf("admin.listen %q has no fixed port (pass -admin ADDR)", listen)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}

// open opens the spool named by -spool or the config. It refuses to create a missing file.
// Inspection commands (stats, dead-letters) open it read-only: they never modify the file, and
// a damaged file is reported, not moved aside.
func (c *spoolCmd) open(cfg *config.Config) (*spool.Spool, error) {
	opts := spool.Options{Logger: slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		ReadOnly: c.name == "stats" || c.name == "dead-letters"}
	path := c.spoolPath
	if cfg != nil {
		opts.MaxBytes, opts.WhenFull, opts.NoSync = int64(cfg.Spool.MaxBytes), cfg.Spool.WhenFull, cfg.Spool.NoSync
		opts.ReserveBytes, opts.MaxDeadBytes = int64(cfg.Spool.ReserveBytes), int64(cfg.Spool.DeadLetterMaxBytes)
		for _, d := range cfg.Datasets {
			for _, t := range d.Tables {
				c.queues = append(c.queues, spool.QueueKey{Dataset: d.Name, Table: t.Name})
			}
		}
		if path == "" {
			path = cfg.Spool.Path
		}
		remap, err := pipeline.DeadLetterMapper(cfg)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		opts.Remap = remap // replay decodes and maps source input with this config
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no spool file at %q: %w", path, err)
	}
	return spool.Open(path, opts)
}

func (c *spoolCmd) stats(b spoolBackend) error {
	out, err := b.view()
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.stdout, out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tROWS\tBYTES\tIN FLIGHT\tOLDEST AGE")
	for _, r := range out.Queues {
		fmt.Fprintf(tw, "%s/%s\t%d\t%d\t%d\t%s\n", r.Dataset, r.Table, r.Rows, r.Bytes, r.InFlight, age(r.OldestAgeSec))
	}
	fmt.Fprintf(tw, "\nin flight\t%d\ndead letters\t%d\nspooled bytes\t%d of %d\nfile bytes\t%d\n",
		out.InFlight, out.DeadLetters, out.Bytes, out.MaxBytes, out.FileBytes)
	fmt.Fprintf(tw, "dropped (drop_oldest)\t%d\nre-queued after crash\t%d\ndead letters evicted\t%d\n", out.Dropped, out.Requeued, out.DeadEvicted)
	if out.Checking {
		fmt.Fprintln(tw, "\nrows and bytes are estimates: the file has no current clean-shutdown marker (a crash, or a stop before the agent's check of it ended); the agent checks it in the background")
	}
	return tw.Flush()
}

func age(sec float64) string {
	if sec == 0 {
		return "-"
	}
	return time.Duration(sec * float64(time.Second)).Round(time.Second).String()
}

func (c *spoolCmd) deadLetters(b spoolBackend) error {
	out, err := b.deadLetters(c.filter)
	if err != nil {
		return err
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
		if d.Destination != "" {
			queue += " → " + d.Destination
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", d.ID, queue, d.At.Format(time.RFC3339),
			orDash(d.Position), oneLine(d.Reason, 80), oneLine(d.Data, 60))
	}
	return tw.Flush()
}

func (c *spoolCmd) mutate(op func(spool.DeadFilter, bool) (int, error), key, text string) error {
	n, err := op(c.filter, c.all)
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.stdout, map[string]int{key: n})
	}
	_, err = fmt.Fprintf(c.stdout, text, n)
	return err
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

func (c *spoolCmd) salvage(ctx context.Context, s *spool.Spool) error {
	r, err := spool.SalvageFile(ctx, c.file, s, spool.SalvageOptions{Queues: c.queues})
	if c.json {
		out := map[string]any{"file": c.file, "into": s.Path(), "rows": r.Rows + r.DeadLetters, "queue_rows": r.Rows,
			"dead_letters": r.DeadLetters, "rows_from_cut_off_pages": r.Orphans, "pages_skipped": r.PagesSkipped, "rows_skipped": r.RowsSkipped}
		if err != nil {
			out["error"] = err.Error()
		}
		if werr := writeJSON(c.stdout, out); werr != nil {
			return werr
		}
	} else {
		fmt.Fprintf(c.stdout, "salvaged %d rows (%d from pages cut off by damage) and %d dead letters from %s into %s; %d pages and %d rows skipped\n",
			r.Rows, r.Orphans, r.DeadLetters, c.file, s.Path(), r.PagesSkipped, r.RowsSkipped)
	}
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// fileBackend reads and changes the spool file directly (the agent is stopped).
type fileBackend struct {
	s   *spool.Spool
	now func() time.Time
}

func (b fileBackend) view() (admin.SpoolView, error) { return admin.ViewSpool(b.s, b.now()), nil }

func (b fileBackend) deadLetters(f spool.DeadFilter) ([]admin.DeadLetterView, error) {
	ds, _, err := b.s.FindDeadLetters(f)
	return admin.ViewDeadLetters(ds), err
}

func (b fileBackend) replay(f spool.DeadFilter, _ bool) (int, error) { return b.s.ReplayDeadLetters(f) }

func (b fileBackend) purge(f spool.DeadFilter, _ bool) (int, error) { return b.s.PurgeDeadLetters(f) }

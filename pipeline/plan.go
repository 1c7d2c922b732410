package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/schema"
)

// Power BI table caps the dry run warns about (shared/pbi-api.md §3).
const (
	FIFOTableRows = 200_000   // rows a basicFIFO table keeps; older rows are evicted
	MaxTableRows  = 5_000_000 // rows a retention-None table may hold
)

// defaultMaxBadRows is how many bad rows a Plan lists when DryRunOptions.MaxBadRows is 0.
const defaultMaxBadRows = 20

// DryRunOptions describe a backfill to check without opening the spool or the network.
type DryRunOptions struct {
	Table  string // DATASET/TABLE
	Format string // jsonl | csv | "" (from each path's extension)
	// Encoding is the input's text encoding (ingest.DecoderOptions.Encoding); "" = utf-8.
	Encoding string
	Paths    []string  // "-" reads Stdin
	Stdin    io.Reader // for "-"
	// MaxBadRows caps Plan.BadRows; Plan.Bad always counts them all. 0 = 20.
	MaxBadRows int
	// TableRows is how many rows the table already holds (0 = assume empty). It moves the
	// large-table tier switch and the retention caps.
	TableRows int64
}

// BadRow is one input record the backfill would dead-letter.
type BadRow struct {
	Position string // file:line
	Reason   string
}

// Plan is what a backfill would do.
type Plan struct {
	Dataset, Table, Retention string
	Limits                    config.Limits // the dataset's limits, defaults applied
	TableRows                 int64         // DryRunOptions.TableRows
	Read, Good, Bad           int64         // records read; rows that pass the schema; rows that would be dead-lettered
	BadRows                   []BadRow      // the first MaxBadRows bad rows
	Posts                     int64         // POST rows requests needed
	Duration                  time.Duration // time needed at the dataset's limits (table starting at TableRows)
	Binding                   string        // the limit that accounts for most of Duration
	Linger                    time.Duration // batch.linger: how long the last, partial POST waits
	// LargeTierAfter is how many rows of this load go out before the table passes
	// large_table_rows and POSTs become limited per hour; -1 if it never happens.
	LargeTierAfter int64
	Warnings       []string
}

// DryRun reads and validates every record of the backfill input (decoding and the table's
// schema, exactly as backfill would) and plans the load against the dataset's limits. It opens
// neither the spool nor the network.
func DryRun(ctx context.Context, cfg *config.Config, o DryRunOptions) (Plan, error) {
	ds, t, err := cfg.FindTable(o.Table)
	if err != nil {
		return Plan{}, err
	}
	table, err := schema.Compile(*t)
	if err != nil {
		return Plan{}, fmt.Errorf("dataset %s table %s: %w", ds.Name, t.Name, err)
	}
	p := Plan{Dataset: ds.Name, Table: t.Name, Retention: ds.Retention, Limits: ds.Limits, TableRows: o.TableRows,
		Linger: time.Duration(cfg.Batch.Linger)}
	chk := &checker{table: table, plan: &p, max: o.MaxBadRows, now: time.Now(), enc: o.Encoding, ref: o.Table}
	if chk.max <= 0 {
		chk.max = defaultMaxBadRows
	}
	for _, path := range o.Paths {
		if err := chk.path(ctx, path, o); err != nil {
			return p, err
		}
	}
	p.plan()
	return p, nil
}

// checker validates records into a Plan.
type checker struct {
	table *schema.Table
	plan  *Plan
	max   int
	enc   string // DryRunOptions.Encoding
	ref   string // DryRunOptions.Table
	now   time.Time
}

func (c *checker) path(ctx context.Context, path string, o DryRunOptions) error {
	format, err := inputFormat(o.Format, path)
	if err != nil {
		return err
	}
	if path == "-" {
		if o.Stdin == nil {
			return errors.New("stdin: no reader")
		}
		return c.decode(ctx, "stdin", format, o.Stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	return c.decode(ctx, path, format, f)
}

// inputFormat is format, or the one path's extension names.
func inputFormat(format, path string) (string, error) {
	if format != "" {
		return format, nil
	}
	if f, ok := ingest.FormatFromPath(path); ok {
		return f, nil
	}
	return "", fmt.Errorf("%s: cannot tell the format from the extension; pass -format jsonl|csv", path)
}

func (c *checker) decode(ctx context.Context, name, format string, r io.Reader) error {
	dec, err := ingest.NewDecoder(format, r, ingest.DecoderOptions{Encoding: c.enc})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	dec = ingest.WatchFields(dec, func(fields []string, header bool) error {
		notes, err := headerNotes(c.table, c.ref, name, fields, header)
		for _, n := range notes {
			c.plan.Warnings = append(c.plan.Warnings, n.Path+": "+n.Msg)
		}
		return err
	})
	for n := 0; ; n++ {
		if n%1000 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		c.check(name, rec)
	}
}

func (c *checker) check(name string, rec ingest.Record) {
	c.plan.Read++
	err := rec.Err
	if err == nil {
		_, err = c.table.Coerce(rec.Fields, c.now)
	}
	if err == nil {
		c.plan.Good++
		return
	}
	c.plan.Bad++
	if len(c.plan.BadRows) < c.max {
		c.plan.BadRows = append(c.plan.BadRows, BadRow{Position: ingest.Position(name, rec), Reason: err.Error()})
	}
}

// plan fills Posts, Duration, LargeTierAfter, Binding and Warnings from Good and the limits,
// with the drain model the progress line and /status use (batcher.ForecastDrain): the greedy
// scheduler's rules over an unused budget, the table starting at TableRows rows.
func (p *Plan) plan() {
	f := batcher.ForecastDrain(batcher.ForecastInput{Limits: p.Limits, Retention: p.Retention, Target: p.Table, Linger: p.Linger,
		Tables: []batcher.ForecastTable{{Name: p.Table, Backlog: p.Good, Held: p.TableRows}}})
	p.Posts, p.Duration, p.LargeTierAfter, p.Binding = f.Posts, f.Duration, f.LargeTierAfter, f.Binding
	p.Warnings = append(p.Warnings, p.warnings()...)
}

func (p *Plan) warnings() []string {
	var w []string
	end := p.TableRows + p.Good
	switch {
	case p.Retention == "basicFIFO" && end > FIFOTableRows:
		w = append(w, fmt.Sprintf("the table would reach %s rows but basicFIFO keeps the newest %s: the oldest %s are evicted",
			thousands(end), thousands(FIFOTableRows), thousands(end-FIFOTableRows)))
	case p.Retention != "basicFIFO" && end > MaxTableRows:
		w = append(w, fmt.Sprintf("the table would reach %s rows, over the %s-row cap of a retention-None table: "+
			"the last %s rows would be refused and dead-lettered", thousands(end), thousands(MaxTableRows), thousands(end-MaxTableRows)))
	}
	switch {
	case p.LargeTierAfter == 0:
		w = append(w, fmt.Sprintf("the table already holds %s rows or more: POSTs are limited to %d per hour",
			thousands(int64(p.Limits.LargeTableRows)), p.Limits.PostsPerHourLarge))
	case p.LargeTierAfter > 0:
		w = append(w, fmt.Sprintf("after %s rows of this load the table passes %s rows: POSTs drop from %d per minute to %d per hour",
			thousands(p.LargeTierAfter), thousands(int64(p.Limits.LargeTableRows)), p.Limits.PostsPerMinute, p.Limits.PostsPerHourLarge))
	}
	return w
}

func ceilDiv(n int64, d int) int64 {
	if n <= 0 || d <= 0 {
		return 0
	}
	return (n + int64(d) - 1) / int64(d)
}

// hours is the time rows take at perHour rows per hour.
func hours(rows int64, perHour float64) time.Duration {
	if rows <= 0 || perHour <= 0 {
		return 0
	}
	return time.Duration(float64(rows) / perHour * float64(time.Hour))
}

// Format writes the plan for humans.
func (p Plan) Format(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("Dry run for %s/%s (retention %s): nothing was spooled or sent.\n", p.Dataset, p.Table, p.Retention)
	ew.printf("records read: %s\nrows good:    %s\nrows bad:     %s (would be dead-lettered)\n",
		thousands(p.Read), thousands(p.Good), thousands(p.Bad))
	for _, b := range p.BadRows {
		ew.printf("  %s: %s\n", b.Position, b.Reason)
	}
	if more := p.Bad - int64(len(p.BadRows)); more > 0 {
		ew.printf("  ... and %s more\n", thousands(more))
	}
	l := p.Limits
	ew.printf("\nplan: %s POST%s of up to %s rows; %s at %s rows/hour, %d POSTs/minute",
		thousands(p.Posts), plural(p.Posts), thousands(int64(l.RowsPerPost)), roundDuration(p.Duration), thousands(int64(l.RowsPerHour)), l.PostsPerMinute)
	if p.LargeTierAfter >= 0 {
		ew.printf(" (%d POSTs/hour past %s rows)", l.PostsPerHourLarge, thousands(int64(l.LargeTableRows)))
	}
	ew.printf("\n")
	if p.Binding != "" {
		ew.printf("binding limit: %s\n", p.Binding)
	}
	for _, warn := range p.Warnings {
		ew.printf("warning: %s\n", warn)
	}
	return ew.err
}

// roundDuration prints d as "about 10h00m", "about 20m05s" or "under a minute".
func roundDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("about %dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("about %dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return "under a minute"
}

// thousands formats n with thousands separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// plural is "s" unless n is 1.
func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

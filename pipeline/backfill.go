package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// recordsPerWrite is how many records one durable spool write carries: large enough that fsyncs
// are amortised, small enough that a crash re-reads little.
const recordsPerWrite = 1000

// BackfillOptions describe one backfill.
type BackfillOptions struct {
	Table  string // DATASET/TABLE
	Format string // jsonl | csv | "" (from each path's extension)
	// Encoding is the input's text encoding (ingest.DecoderOptions.Encoding); "" = utf-8.
	Encoding string
	Paths    []string  // "-" reads Stdin
	Stdin    io.Reader // for "-"
	// Progress, if set, is called about every Interval with a snapshot, and once at the end.
	Progress func(Progress)
	// Total is how many records the input holds (0 = unknown): with it, every snapshot carries
	// the drain model's ETA for what is left to read and deliver.
	Total    int64
	Interval time.Duration
	// GiveUpAfter, when > 0, ends the backfill with an error once Power BI has been unreachable
	// (or failing) that long without a break. 0 waits as long as it takes.
	GiveUpAfter time.Duration
	// Destinations, if set, is called once at the end with each destination's acknowledged rows
	// this run (keys: powerbi, eventstream/NAME), when the table goes to an eventstream.
	Destinations func(map[string]int64)
}

// Progress is a snapshot of a running backfill.
type Progress struct {
	Read      int64 // records read this run (good and bad)
	Spooled   int64 // rows durably spooled this run
	Delivered int64 // rows every destination of the table acknowledged this run
	Rejected  int64 // rows dead-lettered this run (schema or Power BI)
	Resumed   int64 // records skipped because an earlier run already spooled them
	Backlog   int   // rows of the table still waiting in the spool
	Elapsed   time.Duration
	Reading   bool // false once every input was read
	// Waiting is why the backfill waits for Power BI ("" when it does not): reading into the
	// spool goes on meanwhile.
	Waiting string
	// ETA is the drain model's time to deliver what is left (batcher.ForecastDrain) when
	// ETAKnown; Binding names the limit it waits for.
	ETA      time.Duration
	ETAKnown bool
	Binding  string
}

// Summary is the final Progress.
type Summary = Progress

// ErrRejectedRows is returned (wrapped) when a backfill finished but some rows were dead-lettered.
var ErrRejectedRows = errors.New("rows were dead-lettered")

// Backfill reads every path into the spool (resuming from a checkpoint left by an earlier run of
// the same file), runs the dispatchers, and returns once every spooled row of the table was
// acknowledged by Power BI or dead-lettered. ctx cancellation stops it early; rows already spooled
// stay in the spool for the next run.
func (p *Pipeline) Backfill(ctx context.Context, o BackfillOptions) (Summary, error) {
	w, err := p.Writer(o.Table)
	if err != nil {
		return Summary{}, err
	}
	bf := &backfill{p: p, o: o, w: w, start: time.Now(), dests: p.Destinations(w.Queue), deliveredAt0: map[string]int64{},
		dead0: p.Spool.Stats().DeadLetters}
	for _, d := range bf.dests {
		bf.deliveredAt0[d] = p.Spool.Destination(d).Delivered(w.Queue)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	fatalCh := make(chan error, 1)
	// On Ctrl-C the POSTs in flight get shutdown_timeout to finish (a 2xx'd batch is acked, not
	// sent again); then they are cancelled and their rows stay spooled.
	abortCtx, abort := abortAfter(ctx, time.Duration(p.cfg.ShutdownTimeout))
	defer abort()
	// A backfill has no live rows: it keeps no reserve and drains at every limit. Only a
	// permanent answer about the backfilled dataset ends it; anything else is waited out (rows
	// keep being read into the spool).
	wait := p.start(runCtx, abortCtx, 0, func(ds string, err error) {
		if ds != w.Queue.Dataset {
			return
		}
		select {
		case fatalCh <- fmt.Errorf("dataset %s: %w", ds, err):
		default:
		}
	})
	err = bf.run(runCtx, fatalCh)
	stopRun()
	wait()
	sum := bf.snapshot(false)
	if o.Progress != nil {
		o.Progress(sum)
	}
	if o.Destinations != nil && (len(bf.dests) > 1 || bf.dests[0] != spool.PowerBI) {
		o.Destinations(bf.byDestination())
	}
	if err == nil && sum.Rejected > 0 {
		err = fmt.Errorf("%d %w (see `pbi-pusher spool dead-letters`)", sum.Rejected, ErrRejectedRows)
	}
	return sum, err
}

// abortAfter returns a context that is cancelled timeout after ctx is done (or by cancel): the
// abort of in-flight POSTs, distinct from the stop of new ones.
func abortAfter(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	abortCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(timeout, cancel)
		context.AfterFunc(abortCtx, func() { t.Stop() })
	})
	return abortCtx, func() { stop(); cancel() }
}

type backfill struct {
	p            *Pipeline
	o            BackfillOptions
	w            *ingest.Writer
	start        time.Time
	dests        []string         // the table's destinations (spool names)
	deliveredAt0 map[string]int64 // per destination
	dead0        int

	mu                       sync.Mutex
	read, spooled, schemaBad int64
	resumed                  int64
	reading                  bool
}

func (b *backfill) run(ctx context.Context, fatalCh <-chan error) error {
	readErr := make(chan error, 1)
	b.setReading(true)
	go func() { readErr <- b.readAll(ctx); b.setReading(false) }()
	interval := b.o.Interval
	if interval <= 0 {
		interval = time.Second
	}
	report := time.NewTicker(interval)
	defer report.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	readDone := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-fatalCh:
			return err
		case err := <-readErr:
			if err != nil {
				return err
			}
			readDone = true
		case <-report.C:
			if b.o.Progress != nil {
				b.o.Progress(b.snapshot(true))
			}
		case <-poll.C:
			if readDone && b.drained() {
				return nil
			}
			if err := b.gaveUp(); err != nil {
				return err
			}
		}
	}
}

// ErrGaveUp is returned (wrapped) when Power BI stayed unreachable for BackfillOptions.GiveUpAfter.
var ErrGaveUp = errors.New("gave up waiting for Power BI")

// gaveUp returns an error once the dataset has been down for GiveUpAfter.
func (b *backfill) gaveUp() error {
	if b.o.GiveUpAfter <= 0 {
		return nil
	}
	h, _ := b.p.SinkHealth(b.w.Queue.Dataset)
	if h.Down.IsZero() || time.Since(h.Down) < b.o.GiveUpAfter {
		return nil
	}
	return fmt.Errorf("%w after %s: %s (rows read so far stay spooled; run the same command again to resume)",
		ErrGaveUp, b.o.GiveUpAfter, h.Reason)
}

// waiting is why the backfill waits for Power BI, "" when it does not.
func (b *backfill) waiting() string {
	h, _ := b.p.SinkHealth(b.w.Queue.Dataset)
	switch h.State {
	case SinkUp:
		return ""
	case SinkConnecting:
		if h.Reason == "" {
			return ""
		}
	}
	return h.Reason
}

// drained reports whether nothing of the table is waiting or in flight, for every destination.
func (b *backfill) drained() bool {
	for _, d := range b.dests {
		v := b.p.Spool.Destination(d)
		if v.Backlog(b.w.Queue).Rows > 0 || v.InFlight(b.w.Queue) > 0 {
			return false
		}
	}
	return true
}

func (b *backfill) setReading(v bool) {
	b.mu.Lock()
	b.reading = v
	b.mu.Unlock()
}

func (b *backfill) snapshot(reading bool) Progress {
	pr := b.counts(reading)
	b.forecast(&pr) // outside b.mu: reading goes on meanwhile
	return pr
}

// counts is the snapshot without the ETA.
func (b *backfill) counts(reading bool) Progress {
	b.mu.Lock()
	defer b.mu.Unlock()
	dead := int64(b.p.Spool.Stats().DeadLetters - b.dead0)
	pr := Progress{
		Read:     b.read,
		Spooled:  b.spooled,
		Rejected: max(dead, b.schemaBad),
		Resumed:  b.resumed,
		Elapsed:  time.Since(b.start),
		Reading:  reading && b.reading,
		Waiting:  b.waiting(),
	}
	for i, d := range b.dests {
		v := b.p.Spool.Destination(d)
		n := v.Delivered(b.w.Queue) - b.deliveredAt0[d]
		if i == 0 || n < pr.Delivered {
			pr.Delivered = n
		}
		pr.Backlog = max(pr.Backlog, v.Backlog(b.w.Queue).Rows)
	}
	b.forecast(&pr)
	return pr
}

// byDestination returns each destination's acknowledged rows this run.
func (b *backfill) byDestination() map[string]int64 {
	out := map[string]int64{}
	for _, d := range b.dests {
		out[d] = b.p.Spool.Destination(d).Delivered(b.w.Queue) - b.deliveredAt0[d]
	}
	return out
}

// forecast fills the ETA from the drain model (batcher.ForecastDrain, as the dry-run plan and
// /status use), starting from the dispatcher's windows and adding the records not read yet;
// unknown while reading input of unknown size.
func (b *backfill) forecast(pr *Progress) {
	d := b.p.Dispatcher(b.w.Queue.Dataset)
	unread := int64(0)
	switch {
	case b.o.Total > 0:
		unread = max(b.o.Total-pr.Read-pr.Resumed, 0)
	case pr.Reading:
		return
	}
	if d == nil {
		return
	}
	in := d.ForecastInput()
	in.Target = b.w.Queue.Table
	found := false
	for i := range in.Tables {
		if in.Tables[i].Name == in.Target {
			in.Tables[i].Backlog, found = int64(pr.Backlog)+unread, true
		}
	}
	if !found {
		in.Tables = append(in.Tables, batcher.ForecastTable{Name: in.Target, Backlog: int64(pr.Backlog) + unread,
			Held: b.p.Spool.Delivered(b.w.Queue)})
	}
	f := batcher.ForecastDrain(in)
	pr.ETA, pr.ETAKnown, pr.Binding = f.Duration, true, f.BindingNow
	if f.BindingNow == "" || f.BindingNow == batcher.BindLatency {
		pr.Binding = f.Binding
	}
}

func (b *backfill) readAll(ctx context.Context) error {
	for _, path := range b.o.Paths {
		if err := b.readOne(ctx, path); err != nil {
			return err
		}
	}
	return nil
}

// checkpoint is what the spool remembers about a backfilled file, written in the same
// transaction as the rows it covers.
type checkpoint struct {
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
	Line   int64  `json:"line"`
	// Records is how many records (not lines: a CSV header, blank lines and quoted line breaks
	// are not records) the spool holds from the file; 0 in checkpoints of older versions.
	Records int64 `json:"records,omitempty"`
}

func (b *backfill) readOne(ctx context.Context, path string) error {
	format := b.o.Format
	if format == "" {
		f, ok := ingest.FormatFromPath(path)
		if !ok {
			return fmt.Errorf("%s: cannot tell the format from the extension; pass -format jsonl|csv", path)
		}
		format = f
	}
	if path == "-" {
		if abs, f, ok := ingest.StdinFile(b.o.Stdin); ok {
			// stdin redirected from a file shares that file's checkpoint.
			cp, err := b.resumePoint(f, abs)
			if err != nil {
				return err
			}
			return b.decode(ctx, "stdin", format, f, FileCheckpointKey(abs), cp)
		}
		return b.decode(ctx, "stdin", format, b.o.Stdin, "", checkpoint{})
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	abs, _ := filepath.Abs(path)
	cp, err := b.resumePoint(f, abs)
	if err != nil {
		return err
	}
	return b.decode(ctx, path, format, f, FileCheckpointKey(abs), cp)
}

// FileCheckpointKey is the spool metadata key of a file's checkpoint: one per absolute path,
// shared by backfill, file sources (follow or once) and stdin redirected from the file, so
// whichever reads the file first, the others continue where it stopped. (Same key and JSON
// fields as ingest/filesrc.)
func FileCheckpointKey(abs string) string { return "file/" + abs }

// legacyCheckpointKey is where backfill kept its checkpoint before it was shared.
func legacyCheckpointKey(abs string) string { return "backfill/" + abs }

// resumePoint returns the checkpoint to resume from: the stored one of the path (or, from an
// older version, backfill's own) if it belongs to this very file (same device and inode), else
// the start of the file.
func (b *backfill) resumePoint(f *os.File, abs string) (checkpoint, error) {
	cur := checkpoint{}
	if fi, err := f.Stat(); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			cur.Dev, cur.Ino = uint64(st.Dev), st.Ino
		}
	}
	for _, key := range []string{FileCheckpointKey(abs), legacyCheckpointKey(abs)} {
		raw, err := b.p.Spool.Meta(key)
		if err != nil {
			return cur, fmt.Errorf("read checkpoint %s: %w", key, err)
		}
		var old checkpoint
		if raw != nil && json.Unmarshal(raw, &old) == nil && old.Dev == cur.Dev && old.Ino == cur.Ino {
			return old, nil
		}
	}
	return cur, nil
}

func (b *backfill) decode(ctx context.Context, name, format string, r io.Reader, key string, cp checkpoint) error {
	dec, err := ingest.NewDecoder(format, r, ingest.DecoderOptions{Skip: cp.Offset, Encoding: b.o.Encoding, Deferred: true})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	dec = ingest.WatchFields(dec, b.headerCheck(name))
	if done := cp.Records; done > 0 || cp.Line > 0 {
		if done == 0 {
			done = cp.Line // a checkpoint written before records were counted
			cp.Records = done
		}
		b.mu.Lock()
		b.resumed += done
		b.mu.Unlock()
	}
	batch := make([]ingest.Record, 0, recordsPerWrite)
	for {
		rec, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return b.flush(ctx, name, key, cp, batch)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		batch = append(batch, rec)
		cp.Offset, cp.Line = rec.Offset, rec.Line
		cp.Records++
		if len(batch) == recordsPerWrite {
			if err := b.flush(ctx, name, key, cp, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
}

// headerCheck refuses an input none of whose fields maps to a column (an ErrInput error) and,
// for stdin (files were checked by CheckInputs before), logs a partial or case-only mapping once.
func (b *backfill) headerCheck(name string) func([]string, bool) error {
	return func(fields []string, header bool) error {
		notes, err := headerNotes(b.p.tables[b.w.Queue], b.o.Table, name, fields, header)
		if name == "stdin" {
			LogHeaderNotes(b.p.log, notes)
		}
		return err
	}
}

func (b *backfill) flush(ctx context.Context, name, key string, cp checkpoint, recs []ingest.Record) error {
	if len(recs) == 0 {
		return nil
	}
	var cps map[string][]byte
	if key != "" {
		raw, _ := json.Marshal(cp)
		cps = map[string][]byte{key: raw}
	}
	res, err := b.w.Write(ctx, name, recs, cps)
	if err != nil {
		return fmt.Errorf("spool rows of %s: %w", name, err)
	}
	b.mu.Lock()
	b.read += int64(len(recs))
	b.spooled += int64(res.Rows)
	b.schemaBad += int64(res.Rejected)
	b.mu.Unlock()
	return nil
}

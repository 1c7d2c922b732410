// Package progress renders a backfill's progress: on a terminal one line redrawn in place (rows
// read and delivered, smoothed delivery rate, backlog, and the drain model's ETA with the limit
// that binds), elsewhere a log line every few seconds.
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Snapshot is a backfill's progress. Its fields match pipeline.Progress one for one, so
// progress.Snapshot(p) converts a pipeline.Progress.
type Snapshot struct {
	Read      int64 // records read this run (good and bad)
	Spooled   int64 // rows durably spooled this run
	Delivered int64 // rows Power BI acknowledged this run
	Rejected  int64 // rows dead-lettered this run
	Resumed   int64 // records skipped because an earlier run already spooled them
	Backlog   int   // rows of the table still waiting in the spool
	Elapsed   time.Duration
	Reading   bool   // false once every input was read
	Waiting   string // why delivery waits for Power BI ("" = it does not); reading goes on
	// ETA is the time to drain from the drain model (batcher.ForecastDrain) when ETAKnown, and
	// Binding the limit it waits for, named ("table ≥ 250,000 rows: 120 POSTs/hour").
	ETA      time.Duration
	ETAKnown bool
	Binding  string
}

const (
	// rateTau is the time constant of the rate's exponential smoothing.
	rateTau = 20 * time.Second
	// logEvery is the least elapsed time between two log lines when not on a terminal.
	logEvery = 10 * time.Second
	// eraseLine returns to column 0 and clears the line.
	eraseLine = "\r\x1b[2K"
)

// Display shows progress. Its methods are safe for concurrent use.
type Display struct {
	w       io.Writer
	tty     bool
	total   int64
	log     *slog.Logger
	width   int
	mu      sync.Mutex
	last    Snapshot
	seen    bool
	rate    float64 // delivered rows per second, smoothed
	logged  time.Duration
	drawn   bool
	stopped bool
}

// New returns a display writing to w: a redrawn line when tty, else log lines on log (nil =
// discard). total is the number of input records (0 if unknown). The ETA comes with each
// snapshot, from the drain model.
func New(w io.Writer, tty bool, total int64, log *slog.Logger) *Display {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Display{w: w, tty: tty, total: total, log: log}
	if tty {
		d.width = Width(w)
	}
	return d
}

// Update records s and redraws (terminal) or logs (at most every 10 s of s.Elapsed).
func (d *Display) Update(s Snapshot) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	d.observe(s)
	if d.tty {
		d.draw()
		return
	}
	if !d.drawn || s.Elapsed-d.logged >= logEvery {
		d.logged, d.drawn = s.Elapsed, true
		d.logLine("backfill progress")
	}
}

// Done ends the display of a backfill that finished: the last line stays on the terminal, or a
// final "backfill finished" log line is written.
func (d *Display) Done() { d.Finish("backfill finished") }

// Finish ends the display with msg ("backfill interrupted", "backfill failed"): the last line
// stays on the terminal with msg below it, or msg is the final log line.
func (d *Display) Finish(msg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	d.stopped = true
	if !d.tty {
		d.logLine(msg)
		return
	}
	if d.seen {
		d.draw()
	}
	_, _ = io.WriteString(d.w, "\n")
	if msg != "backfill finished" {
		_, _ = io.WriteString(d.w, msg+"\n")
	}
}

// observe updates the smoothed delivery rate with s.
func (d *Display) observe(s Snapshot) {
	prev, had := d.last, d.seen
	d.last, d.seen = s, true
	if !had {
		if s.Elapsed > 0 {
			d.rate = float64(s.Delivered) / s.Elapsed.Seconds()
		}
		return
	}
	dt := (s.Elapsed - prev.Elapsed).Seconds()
	if dt <= 0 {
		return
	}
	inst := float64(s.Delivered-prev.Delivered) / dt
	alpha := 1 - math.Exp(-dt/rateTau.Seconds())
	d.rate += alpha * (inst - d.rate)
}

func (d *Display) draw() {
	line := truncate(d.line(), d.width)
	_, _ = fmt.Fprint(d.w, eraseLine+line)
}

func (d *Display) logLine(msg string) {
	s := d.last
	e := d.eta()
	attrs := []any{"read", s.Read, "delivered", s.Delivered, "rejected", s.Rejected,
		"backlog", s.Backlog, "rows_per_second", math.Round(d.rate), "eta", e.text(), "eta_bound", e.bound}
	if s.Waiting != "" {
		attrs = append(attrs, "waiting", "waiting for Power BI: "+s.Waiting)
	}
	d.log.Info(msg, attrs...)
}

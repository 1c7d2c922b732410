// Package bench measures pbi-pusher on the machine it runs on, each figure beside its physical
// limit or a peer measured in the same run (pbi-pusher bench).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options configure Run.
type Options struct {
	Exe          string // the pbi-pusher binary to measure (child processes)
	Dir          string // scratch directory ("" = a temp dir, removed after)
	Peers        string // directory of the peer scripts (test/bench/peers)
	Python       string // python3 for the typical script; "" = look it up on PATH
	Redpanda     bool   // build Redpanda Connect from the Go module proxy and run it too
	IngestRows   int    // rows of the ingest file (200 bytes each)
	BackfillRows int    // rows of the backfill and kill -9 runs
	RateRows     int    // rows of the POSTs-per-minute run (1,000-row POSTs); 0 = skip
	Datasets     int    // datasets of the memory run
	DatasetRows  int    // rows per dataset of the memory run
	RestartBytes int64  // spool size of the cold restart; 0 = skip
	Progress     io.Writer
}

// Figure is one line of the report.
type Figure struct {
	Measure string
	Value   string // pbi-pusher
	Peer    string // the limit or peer it is compared with
	Ratio   string
	Target  string
	Met     string // "yes", "no: reason", or "" (no target)
}

// Run measures every figure and returns them in report order.
func Run(ctx context.Context, o Options) ([]Figure, error) {
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "pbi-pusher-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	if o.Python == "" {
		o.Python = pythonPath()
	}
	logf := func(format string, a ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "bench: "+format+"\n", a...)
		}
	}
	var figs []Figure
	sub := func(name string) string {
		d := filepath.Join(o.Dir, name)
		_ = os.MkdirAll(d, 0o755)
		return d
	}

	// A measurement that fails is reported as a failed line; the others still run.
	var errs []error
	failed := func(what string, err error) {
		errs = append(errs, fmt.Errorf("%s: %w", what, err))
		figs = append(figs, Figure{Measure: what, Value: "failed", Met: "no: " + firstLine(err.Error())})
	}

	logf("ingest: %d rows of 200 bytes, JSON lines -> spool (fsync on)", o.IngestRows)
	if in, err := measureIngest(ctx, sub("ingest"), o.IngestRows); err != nil {
		failed("ingest", err)
	} else {
		figs = append(figs, ingestFigures(in)...)
	}

	logf("backfill: %d rows at the default limits, pbi-pusher and the peers", o.BackfillRows)
	var bf backfillResult
	if err := measureBackfill(sub("backfill"), o.Exe, o.BackfillRows, o, &bf); err != nil {
		failed("backfill", err)
	} else {
		figs = append(figs, backfillFigures(bf)...)
	}

	logf("kill -9 halfway through %d rows, then rerun", o.BackfillRows)
	if err := measureKill(sub("kill"), o.Exe, o.BackfillRows, o, &bf); err != nil {
		failed("kill -9", err)
	} else {
		figs = append(figs, killFigure(bf))
	}

	logf("memory: %d datasets x %d rows draining at once", o.Datasets, o.DatasetRows)
	var mem memResult
	if err := measureMemory(sub("memory"), o.Exe, o.Datasets, o.DatasetRows, &mem); err != nil {
		failed("memory", err)
	} else {
		figs = append(figs, memFigures(mem)...)
	}

	if o.RestartBytes > 0 {
		logf("restart: %d MB spool, cold page cache", o.RestartBytes>>20)
		var rs restartResult
		if err := measureRestart(sub("restart"), o.Exe, o.RestartBytes, &rs); err != nil {
			failed("restart", err)
		} else {
			figs = append(figs, restartFigures(rs)...)
		}
	}
	if o.RateRows > 0 {
		logf("POSTs per minute: %d rows in 1,000-row POSTs", o.RateRows)
		if err := measurePostRate(sub("rate"), o.Exe, o.RateRows, &bf); err != nil {
			failed("POSTs per minute", err)
			return figs, errors.Join(errs...)
		}
		figs = append(figs, Figure{Measure: "POSTs per minute used (1,000-row POSTs)",
			Value: fmt.Sprintf("%d / min, %d throttles", bf.pushPeakPostsPerMinute, bf.postRateThrottles),
			Peer:  "Power BI ceiling 120 / min", Ratio: ratio(float64(bf.pushPeakPostsPerMinute), 120),
			Target: "120 with 0 throttles", Met: verdict(bf.pushPeakPostsPerMinute == 120 && bf.postRateThrottles == 0, "")})
	}
	return figs, errors.Join(errs...)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func ingestFigures(in ingestResult) []Figure {
	rps := float64(in.rows) / in.wall.Seconds()
	mbps := float64(in.bytes) / 1e6 / in.wall.Seconds()
	bare := float64(in.rows) / in.bareWall.Seconds()
	disk := float64(in.bytes) / 1e6 / in.diskWall.Seconds()
	cpuPerM := in.cpu.Seconds() / float64(in.rows) * 1e6
	r := rps / bare
	return []Figure{
		{Measure: "JSON lines -> spool, 200-byte rows, fsync on",
			Value: fmt.Sprintf("%.0f rows/s, %.1f MB/s", rps, mbps),
			Peer:  fmt.Sprintf("bare encoding/json decode into maps %.0f rows/s", bare),
			Ratio: fmt.Sprintf("%.2f", r), Target: ">= 0.70",
			Met: verdict(r >= 0.7, "see the CPU figure; profile with go test -run '^$' -bench Ingest -cpuprofile cpu.out ./internal/bench")},
		{Measure: "  same, against the disk",
			Value: fmt.Sprintf("%.1f MB/s", mbps),
			Peer:  fmt.Sprintf("write+fdatasync of the same bytes in %d KB commits %.1f MB/s", in.commitBytes>>10, disk),
			Ratio: fmt.Sprintf("%.3f", mbps/disk)},
		{Measure: "  CPU per million rows (both cores)",
			Value: fmt.Sprintf("%.1f CPU-s", cpuPerM), Peer: "", Ratio: "", Target: "<= 5 CPU-s",
			Met: verdict(cpuPerM <= 5, "see above")},
	}
}

func backfillFigures(bf backfillResult) []Figure {
	peer, rat, met := "typical script: "+bf.scriptNote, "", "no: peer not run"
	if bf.script > 0 {
		peer = fmt.Sprintf("typical script %.2f s, %d throttles", bf.script.Seconds(), bf.scriptThrottles)
		q := bf.wall.Seconds() / bf.script.Seconds()
		rat = fmt.Sprintf("%.2f", q)
		met = verdict(q <= 1.5 && bf.throttles == 0, "")
	}
	figs := []Figure{{Measure: fmt.Sprintf("%dk-row backfill, default limits, empty table", bf.rows/1000),
		Value: fmt.Sprintf("%.2f s, %d throttles", bf.wall.Seconds(), bf.throttles),
		Peer:  peer, Ratio: rat, Target: "<= 1.5x the script, 0 throttles", Met: met}}
	if bf.redpanda > 0 || bf.redpandaNote != "" {
		p := "Redpanda Connect: " + bf.redpandaNote
		if bf.redpanda > 0 {
			p = fmt.Sprintf("Redpanda Connect %.2f s, %d throttles", bf.redpanda.Seconds(), bf.redpandaThrottles)
			figs = append(figs, Figure{Measure: "  same, against Redpanda Connect", Value: fmt.Sprintf("%.2f s", bf.wall.Seconds()),
				Peer: p, Ratio: fmt.Sprintf("%.2f", bf.wall.Seconds()/bf.redpanda.Seconds())})
		} else {
			figs = append(figs, Figure{Measure: "  same, against Redpanda Connect", Peer: p})
		}
	}
	return figs
}

func killFigure(bf backfillResult) Figure {
	peer := "typical script not run"
	rat := ""
	if bf.dupScript > 0 || bf.missScript > 0 {
		peer = fmt.Sprintf("typical script %d duplicates, %d missing", bf.dupScript, bf.missScript)
		if bf.dupPusher > 0 {
			rat = fmt.Sprintf("%.0fx fewer", float64(bf.dupScript)/float64(bf.dupPusher))
		}
	}
	bound := 5 * 10_000
	return Figure{Measure: fmt.Sprintf("kill -9 halfway through %dk rows, rerun", bf.rows/1000),
		Value: fmt.Sprintf("%d duplicates, %d missing", bf.dupPusher, bf.missPusher), Peer: peer, Ratio: rat,
		Target: "<= one 10,000-row batch per pending POST (5), 0 missing",
		Met:    verdict(bf.dupPusher <= bound && bf.missPusher == 0, "")}
}

func memFigures(m memResult) []Figure {
	limit := int64(64<<20) + int64(m.datasets)<<20
	rows := m.datasets * m.perDataset
	return []Figure{
		{Measure: fmt.Sprintf("memory, %d datasets draining at once", m.datasets),
			Value: fmt.Sprintf("%.0f MiB anonymous (peak RssAnon)", float64(m.peakAnon)/(1<<20)),
			Peer:  fmt.Sprintf("goal 64 MiB + 1 MiB per dataset = %d MiB", limit>>20),
			Ratio: fmt.Sprintf("%.2f", float64(m.peakAnon)/float64(limit)), Target: "<= 1.00",
			Met: verdict(m.peakAnon <= limit, "")},
		{Measure: fmt.Sprintf("delivery, %d datasets, %d rows", m.datasets, rows),
			Value: fmt.Sprintf("%.0f rows/s, %d throttles", float64(rows)/m.wall.Seconds(), m.throttles),
			Peer:  fmt.Sprintf("%d x 278 rows/s (1M rows/h) = %d rows/s needed", m.datasets, m.datasets*278),
			Ratio: fmt.Sprintf("%.1f", float64(rows)/m.wall.Seconds()/float64(m.datasets*278))},
	}
}

func restartFigures(r restartResult) []Figure {
	return []Figure{
		{Measure: fmt.Sprintf("restart with a %d MB spool, cold cache -> first POST", r.bytes>>20),
			Value: fmt.Sprintf("%.2f s", r.firstPost.Seconds()), Peer: "goal 1 s",
			Ratio: fmt.Sprintf("%.2f", r.firstPost.Seconds()), Target: "< 1 s",
			Met: verdict(r.firstPost < time.Second, "slower than the goal on this machine")},
		{Measure: "  `spool stats`, cold cache", Value: fmt.Sprintf("%.2f s", r.spoolStats.Seconds()), Peer: "goal 1 s",
			Ratio: fmt.Sprintf("%.2f", r.spoolStats.Seconds()), Target: "< 1 s",
			Met: verdict(r.spoolStats < time.Second, "see above")},
		{Measure: "  restart after kill -9, cold cache -> first POST", Value: fmt.Sprintf("%.2f s", r.killFirstPost.Seconds()),
			Peer: "goal 1 s", Ratio: fmt.Sprintf("%.2f", r.killFirstPost.Seconds()), Target: "< 1 s",
			Met: verdict(r.killFirstPost < time.Second, "the open after an unclean stop")},
		{Measure: "  `spool stats` after kill -9, cold cache", Value: fmt.Sprintf("%.2f s", r.killSpoolStats.Seconds()),
			Peer: "goal 1 s", Ratio: fmt.Sprintf("%.2f", r.killSpoolStats.Seconds()), Target: "< 1 s",
			Met: verdict(r.killSpoolStats < time.Second, "the open after an unclean stop")},
	}
}

func ratio(a, b float64) string { return fmt.Sprintf("%.2f", a/b) }

func verdict(ok bool, why string) string {
	if ok {
		return "yes"
	}
	if why == "" {
		return "no"
	}
	return "no: " + why
}

// Print writes figs as a Markdown table.
func Print(w io.Writer, figs []Figure) {
	fmt.Fprintln(w, "| measure | pbi-pusher | limit / peer (same run) | ratio | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, f := range figs {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", f.Measure, f.Value, f.Peer, f.Ratio, f.Target, f.Met)
	}
}

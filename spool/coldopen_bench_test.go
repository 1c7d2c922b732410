package spool_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// BenchmarkColdOpen1GB measures a restart on a ~1 GB spool (5,000,000 rows of 200 bytes) with the
// file dropped from the page cache before every open (posix_fadvise DONTNEED, no root needed):
// Open plus the first Take of 10,000 rows (what the first POST needs), after a clean Close and
// after a crash (a copy of the file taken while it was open: no current marker, so the full check
// and row scan run in the background), and a read-only open as `spool stats` does, of both.
// The crash cases also report check-ms: open to the end of the background check (exact counts).
// It builds the file once per run (about a minute; PBI_BENCH_SPOOL_DIR keeps it between runs).
// Not part of CI: run it with
//
//	go test -run '^$' -bench ColdOpen1GB -benchtime 3x ./spool/
func BenchmarkColdOpen1GB(b *testing.B) {
	clean, crash := bigSpool(b)
	for _, c := range []struct {
		name, path string
		opts       spool.Options
		take       bool
	}{
		{"clean/open+first-take", clean, spool.Options{}, true},
		{"clean/stats-readonly", clean, spool.Options{ReadOnly: true}, false},
		{"crash/open+first-take", crash, spool.Options{}, true},
		{"crash/stats-readonly", crash, spool.Options{ReadOnly: true}, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				path := c.path
				if c.name == "crash/open+first-take" { // Open re-queues and writes: start from the crash image every time
					path = filepath.Join(b.TempDir(), "crash.db")
					copyFile(b, c.path, path)
				}
				dropCache(b, path)
				b.StartTimer()
				start := time.Now()
				s, err := spool.Open(path, c.opts)
				if err != nil {
					b.Fatal(err)
				}
				opened := time.Since(start)
				if c.take {
					if bt, err := s.Take(qA, 10000, 0); err != nil || bt == nil || len(bt.Rows) != 10000 {
						b.Fatalf("first take: %v", err)
					} else if err := s.Nack(bt); err != nil {
						b.Fatal(err)
					}
				}
				total := time.Since(start)
				b.StopTimer()
				if c.take && s.Stats().Checking {
					s.WaitChecked()
					b.ReportMetric(float64(time.Since(start).Milliseconds()), "check-ms")
				}
				if st := s.Stats(); st.Queues[qA].Rows != 5_000_000 && !st.Checking {
					b.Fatalf("%d rows after open, want 5,000,000", st.Queues[qA].Rows)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(opened.Milliseconds()), "open-ms")
				b.ReportMetric(float64(total.Milliseconds()), "open+take-ms")
				b.StartTimer()
			}
		})
	}
}

// bigSpool returns a cleanly closed ~1 GB spool and a crash image of the same rows.
func bigSpool(b *testing.B) (clean, crash string) {
	b.Helper()
	dir := os.Getenv("PBI_BENCH_SPOOL_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	clean, crash = filepath.Join(dir, "clean.db"), filepath.Join(dir, "crash.db")
	if _, err := os.Stat(crash); err == nil {
		return clean, crash
	}
	s, err := spool.Open(clean, spool.Options{NoSync: true, MaxBytes: 4 << 30})
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([][]byte, 10000)
	for i := 0; i < 5_000_000; i += len(chunk) {
		for j := range chunk {
			chunk[j] = row200(i + j)
		}
		if err := s.Append(context.Background(), spool.Write{Queue: qA, Rows: chunk}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.Take(qA, 10, 0); err != nil { // in flight in the crash image
		b.Fatal(err)
	}
	copyFile(b, clean, crash)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(clean)
	b.Logf("built %s: %d MB", clean, fi.Size()>>20)
	return clean, crash
}

func copyFile(b *testing.B, from, to string) {
	b.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		b.Fatal(err)
	}
}

// dropCache evicts path from the page cache (written back first) so the open reads from disk.
func dropCache(b *testing.B, path string) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
}

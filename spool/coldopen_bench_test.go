package spool_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// BenchmarkColdOpen1GB measures a restart on a ~1 GB spool (5,000,000 rows of 200 bytes) with the
// page cache dropped before every open (as root: `echo 3 > /proc/sys/vm/drop_caches`; elsewhere
// the numbers are warm and the benchmark says so): Open plus the first Take of 10,000 rows (what
// the first POST needs), after a clean Close and after a crash (a copy of the file taken while
// it was open), and a read-only open as `spool stats` does. It builds the file once per run
// (about a minute; PBI_BENCH_SPOOL_DIR keeps it between runs). Not part of CI: run it with
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
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				path := c.path
				if c.name == "crash/open+first-take" { // Open re-queues and writes: start from the crash image every time
					path = filepath.Join(b.TempDir(), "crash.db")
					copyFile(b, c.path, path)
				}
				dropCaches(b)
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
				if st := s.Stats(); st.Queues[qA].Rows != 5_000_000 {
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

// dropCaches empties the page cache so the open reads from disk; without root it cannot, and
// says so once.
func dropCaches(b *testing.B) {
	b.Helper()
	syncFS()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200); err != nil {
		b.Logf("cannot drop the page cache (%v): these numbers are warm", err)
	}
}

func syncFS() { _ = exec.Command("sync").Run() }

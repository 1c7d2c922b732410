package bench

import (
	"context"
	"testing"
)

// BenchmarkIngest runs the bench command's ingest measurement alone (JSON lines -> spool with
// fsync, beside a bare encoding/json decode of the same file) and reports its figures:
// go test -run '^$' -bench Ingest -benchtime 1x ./internal/bench (add -cpuprofile to profile).
func BenchmarkIngest(b *testing.B) {
	rows := 200_000
	for b.Loop() {
		in, err := measureIngest(context.Background(), b.TempDir(), rows)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(in.rows)/in.wall.Seconds(), "rows/s")
		b.ReportMetric(float64(in.rows)/in.bareWall.Seconds(), "bare-rows/s")
		b.ReportMetric(in.bareWall.Seconds()/in.wall.Seconds(), "ratio")
		b.ReportMetric(in.cpu.Seconds()/float64(in.rows)*1e6, "CPU-s/Mrows")
	}
}

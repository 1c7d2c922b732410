package spool_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/spool"
	"github.com/pbi-pusher/pbi-pusher/spool/spooltest"
)

// row200 returns a 200-byte JSON row.
func row200(i int) []byte {
	r := fmt.Appendf(nil, `{"id":%d,"v":"`, i)
	for len(r) < 198 {
		r = append(r, 'x')
	}
	return append(r, '"', '}')
}

// BenchmarkAppend measures durable (fsync on) append throughput of 200-byte rows: W concurrent
// writers each appending R rows per Write, sharing fsyncs through the commit loop. One b.N unit
// is one row. The nosync=true case is the CPU cost alone (not a supported configuration).
func BenchmarkAppend(b *testing.B) {
	cases := []struct {
		writers, rows int
		noSync        bool
	}{{1, 1, false}, {1, 500, false}, {4, 500, false}, {16, 100, false}, {64, 10, false}, {64, 1, false}, {1, 500, true}}
	for _, c := range cases {
		b.Run(fmt.Sprintf("writers=%d/rows=%d/nosync=%v", c.writers, c.rows, c.noSync), func(b *testing.B) {
			h := spooltest.New(b, spool.Options{NoSync: c.noSync})
			chunk := make([][]byte, c.rows)
			for i := range chunk {
				chunk[i] = row200(i)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.SetBytes(200)
			b.ResetTimer()
			for range c.writers {
				wg.Go(func() {
					for next.Add(int64(c.rows)) <= int64(b.N)+int64(c.rows)-1 {
						if err := h.S.Append(context.Background(), spool.Write{Queue: qA, Rows: chunk}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkTakeAck measures Take + Ack (two fsync'd transactions per batch) over a prefilled
// backlog. One b.N unit is one row.
func BenchmarkTakeAck(b *testing.B) {
	for _, batch := range []int{500, 5000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			h := spooltest.New(b, spool.Options{})
			chunk := make([][]byte, 1000)
			for i := range chunk {
				chunk[i] = row200(i)
			}
			for i := 0; i < b.N; i += len(chunk) {
				mustAppend(b, h.S, qA, chunk)
			}
			b.SetBytes(200)
			b.ResetTimer()
			for done := 0; done < b.N; {
				bt := mustTake(b, h.S, qA, batch, 0)
				if err := h.S.Ack(bt); err != nil {
					b.Fatal(err)
				}
				done += len(bt.Rows)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkOpen measures Open on a spool holding a 200,000-row (40 MB) backlog: bbolt's
// tx.Check plus the scan that rebuilds the in-memory counters, both O(file).
func BenchmarkOpen(b *testing.B) {
	h := spooltest.New(b, spool.Options{NoSync: true})
	chunk := make([][]byte, 1000)
	for i := range chunk {
		chunk[i] = row200(i)
	}
	for range 200 {
		mustAppend(b, h.S, qA, chunk)
	}
	b.ResetTimer()
	for b.Loop() {
		h.Reopen()
	}
}

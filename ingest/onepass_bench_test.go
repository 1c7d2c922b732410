package ingest

import (
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/schema"
)

// benchLine is a 200-byte row of the bench command's ingest file.
const benchLine = `{"id":123456,"device":"sensor-1456","site":"plant-north-03","at":"2026-11-02T18:17:36Z","temp":18.351,"humidity":41.83,"ok":true,"note":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`

func benchTable(b *testing.B) *schema.Table {
	tb, err := schema.Compile(onePassTables[0])
	if err != nil {
		b.Fatal(err)
	}
	return tb
}

// BenchmarkRowOnePass: one line -> row, the one-pass path.
func BenchmarkRowOnePass(b *testing.B) {
	tb, line, now := benchTable(b), []byte(benchLine), time.Now()
	var buf []byte
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		var ok bool
		if buf, ok = tb.AppendJSONRow(buf[:0], line, now); !ok {
			b.Fatal("declined")
		}
	}
}

// BenchmarkRowMapPath: one line -> row, the map path (the decoder's checks and decoding, Coerce).
func BenchmarkRowMapPath(b *testing.B) {
	tb, line, now := benchTable(b), []byte(benchLine), time.Now()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mapPathRow(tb, line, now); err != nil {
			b.Fatal(err)
		}
	}
}

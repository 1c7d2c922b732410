// Package ingest reads rows from sources (files, stdin, Kafka, HTTP) and decodes them into records.
//
// CONTRACT STUB: implemented by the ingest work.
package ingest

import "io"

// Record is one decoded input record and its position.
type Record struct {
	Line   int64          // 1-based line where the record starts
	Offset int64          // byte offset just past the record: the resume point
	Fields map[string]any // JSON values (numbers as json.Number) or CSV strings
	Raw    []byte         // the raw input, for dead letters
	Err    error          // malformed record: reported with its position, never fatal
}

// Decoder yields records until io.EOF.
type Decoder interface {
	Next() (Record, error)
}

// DecoderOptions configure NewDecoder.
type DecoderOptions struct {
	// Skip resumes after this byte offset (a Record.Offset from an earlier run). For CSV the
	// header is still read from the start.
	Skip int64
}

// NewDecoder returns a decoder for format "jsonl" or "csv".
func NewDecoder(format string, r io.Reader, opts DecoderOptions) (Decoder, error) { panic("stub") }

// FormatFromPath guesses the format from a file extension (.jsonl/.ndjson/.json → jsonl, .csv → csv).
func FormatFromPath(path string) (string, bool) { panic("stub") }

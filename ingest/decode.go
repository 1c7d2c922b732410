// Package ingest reads rows from sources (files, stdin, Kafka, HTTP) and decodes them into records.
//
// Decoders never stop at bad input: a malformed record is returned as a Record with Err set and
// its position, and decoding goes on with the next one. Every Record carries the exact byte
// offset just past it, so a source can resume with DecoderOptions.Skip after a restart.
package ingest

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// Record is one decoded input record and its position.
type Record struct {
	Line   int64          // 1-based line where the record starts
	Offset int64          // byte offset just past the record: the resume point
	Fields map[string]any // JSON values (numbers as json.Number) or CSV strings; nil if deferred (Decoded)
	Raw    []byte         // the raw input, for dead letters
	Header []string       // CSV: the header the record was read with (shared, do not modify)
	Row    []byte         // the row already coerced by the source (HTTP ingest); spooled as is
	Err    error          // malformed record: reported with its position, never fatal

	// A JSON object left undecoded (DecoderOptions.Deferred, DeferJSON): Writer decodes Raw.
	deferred    bool
	decodeRaw   func([]byte) (map[string]any, error) // DeferJSON's decoder; nil for a JSON line
	start, base int64                                // a JSON line's offset and Raw[0]'s (past a BOM)
}

// DeferJSON returns a record whose Raw is the text of one JSON object, already checked for
// invalid UTF-8 and lone surrogate escapes (CheckJSONText), left undecoded: Writer builds its
// row straight from the text when the table allows, and otherwise calls decode (the source's
// own decoding: fields, or the error that becomes the dead letter's reason).
func DeferJSON(raw []byte, offset int64, decode func([]byte) (map[string]any, error)) Record {
	return Record{Offset: offset, Raw: raw, deferred: true, decodeRaw: decode}
}

// Decoded returns the record's fields or its error, decoding a deferred JSON record now.
func (r *Record) Decoded() (map[string]any, error) {
	switch {
	case !r.deferred || r.Err != nil:
		return r.Fields, r.Err
	case r.decodeRaw != nil:
		return r.decodeRaw(r.Raw)
	}
	return r.decodeLine()
}

// Decoder yields records until io.EOF.
type Decoder interface {
	Next() (Record, error)
}

// DecoderOptions configure NewDecoder.
type DecoderOptions struct {
	// Skip resumes after this byte offset (a Record.Offset from an earlier run). For CSV the
	// header is still read from the start. The skipped bytes are read and counted, so line
	// numbers stay right.
	Skip int64
	// MaxRecordBytes bounds one JSON line; a longer line becomes a Record with Err (and the
	// first 4 KiB as Raw) and decoding goes on. 0 means 16 MiB.
	MaxRecordBytes int
	// Encoding is the input's text encoding: utf-8 (""), utf-16, latin1 or windows-1252 (see
	// Encodings). A byte order mark at the start wins. Input that is not valid in it (invalid
	// UTF-8) makes a Record with Err naming the offset of the first bad byte; nothing is ever
	// replaced by U+FFFD.
	Encoding string
	// Deferred leaves JSON lines undecoded: Record.Fields stays nil and Writer decodes Raw,
	// straight into the row in one pass when the table allows (schema.Table.AppendJSONRow),
	// with the same checks, outcome and error messages as decoding here. For sources whose
	// records go only to a Writer (and FieldNames, which decodes them itself). CSV ignores it.
	Deferred bool
}

// DefaultMaxRecordBytes is the JSON-lines record size limit when MaxRecordBytes is 0.
const DefaultMaxRecordBytes = 16 << 20

// ErrSkipPastEnd is returned by Next when the input ends before DecoderOptions.Skip (the file
// was truncated or replaced since the offset was saved).
var ErrSkipPastEnd = errors.New("resume offset is past the end of the input")

// NewDecoder returns a decoder for format "jsonl" or "csv".
func NewDecoder(format string, r io.Reader, opts DecoderOptions) (Decoder, error) {
	if opts.Skip < 0 {
		return nil, fmt.Errorf("new decoder: negative skip offset %d", opts.Skip)
	}
	if format != "jsonl" && format != "csv" {
		return nil, fmt.Errorf("new decoder: unknown format %q (want jsonl or csv)", format)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	text, err := textReader(br, opts.Encoding)
	if err != nil {
		return nil, fmt.Errorf("new decoder: %w", err)
	}
	if format == "csv" {
		return newCSV(text, opts), nil
	}
	return newJSONL(text, opts), nil
}

// FormatFromPath guesses the format from a file extension (.jsonl/.ndjson/.json → jsonl, .csv → csv).
func FormatFromPath(path string) (string, bool) { return config.FormatFromPath(path) }

package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// oversizeRaw is how much of an over-long line is kept as Record.Raw.
const oversizeRaw = 4 << 10

// jsonlDecoder reads one JSON object per line. Blank lines are skipped; a final line without a
// newline is still a record; a UTF-8 BOM at the start and a CR before the LF are ignored.
type jsonlDecoder struct {
	r        *bufio.Reader
	max      int
	skip     int64
	deferred bool   // DecoderOptions.Deferred
	off      int64  // bytes consumed
	line     int64  // lines consumed
	arena    []byte // lines are copied here, so a line costs no allocation of its own
}

// arenaSize is the size of the blocks lines are copied into.
const arenaSize = 64 << 10

func newJSONL(r io.Reader, opts DecoderOptions) *jsonlDecoder {
	max := opts.MaxRecordBytes
	if max <= 0 {
		max = DefaultMaxRecordBytes
	}
	return &jsonlDecoder{r: bufio.NewReaderSize(r, 64<<10), max: max, skip: opts.Skip, deferred: opts.Deferred}
}

// Next returns the next non-blank line as a record.
func (d *jsonlDecoder) Next() (Record, error) {
	if err := d.skipAhead(); err != nil {
		return Record{}, err
	}
	for {
		start := d.off
		raw, n, tooLong, err := d.readLine()
		if n == 0 {
			return Record{}, err
		}
		d.off += n
		d.line++
		if tooLong {
			e := fmt.Errorf("line %d (offset %d): record of %d bytes exceeds the %d-byte limit", d.line, start, n, d.max)
			return Record{Line: d.line, Offset: d.off, Raw: raw, Err: e}, nil
		}
		base := start
		if start == 0 && bytes.HasPrefix(raw, []byte("\xef\xbb\xbf")) {
			raw, base = raw[3:], 3
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		rec := Record{Line: d.line, Offset: d.off, Raw: raw, start: start, base: base}
		if d.deferred {
			rec.deferred = true
			return rec, nil
		}
		rec.Fields, rec.Err = rec.decodeLine()
		return rec, nil
	}
}

// decodeLine checks and decodes a JSON line record's Raw; the error names its line and offset.
func (r *Record) decodeLine() (map[string]any, error) {
	if err := checkJSONText(r.Raw, r.base); err != nil {
		return nil, fmt.Errorf("line %d (offset %d): %w", r.Line, r.start, err)
	}
	fields, err := parseObject(r.Raw)
	if err != nil {
		return nil, fmt.Errorf("line %d (offset %d): %w", r.Line, r.start, err)
	}
	return fields, nil
}

// own copies a line into the arena.
func (d *jsonlDecoder) own(b []byte) []byte {
	if len(b) > cap(d.arena)-len(d.arena) {
		if len(b) > arenaSize/4 {
			return append([]byte(nil), b...)
		}
		d.arena = make([]byte, 0, arenaSize)
	}
	n := len(d.arena)
	d.arena = append(d.arena, b...)
	return d.arena[n:len(d.arena):len(d.arena)]
}

// skipAhead consumes the first Skip bytes once, counting their lines.
func (d *jsonlDecoder) skipAhead() error {
	for d.off < d.skip {
		chunk, err := d.r.Peek(min(int(d.skip-d.off), d.r.Size()))
		if len(chunk) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("skip to offset %d: %w (input has %d bytes)", d.skip, ErrSkipPastEnd, d.off)
			}
			return fmt.Errorf("skip to offset %d: %w", d.skip, err)
		}
		d.line += int64(bytes.Count(chunk, []byte{'\n'}))
		d.off += int64(len(chunk))
		if _, err := d.r.Discard(len(chunk)); err != nil {
			return fmt.Errorf("skip to offset %d: %w", d.skip, err)
		}
	}
	return nil
}

// readLine reads through the next LF. It returns the line without its LF or CR LF, the bytes
// consumed, and whether the line was longer than max (then only its first 4 KiB are kept).
// n == 0 means no more input; err then says why (io.EOF at the end).
func (d *jsonlDecoder) readLine() (raw []byte, n int64, tooLong bool, err error) {
	for {
		chunk, err := d.r.ReadSlice('\n')
		n += int64(len(chunk))
		tooLong = tooLong || len(raw)+len(chunk) > d.max+2 // +2: room for CR LF
		switch {
		case !tooLong && raw == nil && err == nil:
			raw = d.own(chunk) // the whole line at once: the common case
		case !tooLong:
			raw = append(raw, chunk...)
		case len(raw) < oversizeRaw:
			raw = append(raw, chunk[:min(len(chunk), oversizeRaw-len(raw))]...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && (n == 0 || !errors.Is(err, io.EOF)):
			if errors.Is(err, io.EOF) {
				return nil, 0, false, io.EOF
			}
			return nil, 0, false, fmt.Errorf("read line %d: %w", d.line+1, err)
		}
		raw = bytes.TrimSuffix(bytes.TrimSuffix(raw, []byte{'\n'}), []byte{'\r'})
		if tooLong = tooLong || len(raw) > d.max; tooLong {
			raw = raw[:min(len(raw), oversizeRaw)]
		}
		return raw, n, tooLong, nil
	}
}

// parseObject decodes one JSON object, numbers as json.Number; anything else is an error. Only
// JSON's own whitespace (space, tab, CR) may surround it: "{}\v" is not JSON (RFC 8259 §2).
func parseObject(raw []byte) (map[string]any, error) {
	trimmed := bytes.Trim(raw, " \t\r")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the object")
	}
	return m, nil
}

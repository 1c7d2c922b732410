package ingest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// csvDecoder reads CSV (RFC 4180) with a header row. Fields are strings keyed by header name.
// A UTF-8 BOM is stripped; blank lines are skipped; a row whose field count differs from the
// header, or a malformed row, becomes a Record with Err and decoding goes on. (An unterminated
// quoted field runs to the end of the input, as RFC 4180 reads it.)
type csvDecoder struct {
	src    *bufio.Reader
	tape   *tape
	cr     *csv.Reader
	base   int64 // bytes before the tape (a BOM)
	prev   int64 // tape offset just past the previous record
	skip   int64
	header []string
}

func newCSV(r io.Reader, opts DecoderOptions) *csvDecoder {
	return &csvDecoder{src: bufio.NewReader(r), skip: opts.Skip}
}

// Header returns the header row (nil before the first Next).
func (d *csvDecoder) Header() []string { return d.header }

// Next returns the next row.
func (d *csvDecoder) Next() (Record, error) {
	if d.cr == nil {
		if err := d.start(); err != nil {
			return Record{}, err
		}
	}
	for {
		rec, err := d.read()
		if err != nil || rec.Offset > d.skip {
			return rec, err
		}
	}
}

// start strips a BOM, reads the header and checks it.
func (d *csvDecoder) start() error {
	if bom, _ := d.src.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		d.base = 3
		if _, err := d.src.Discard(3); err != nil {
			return fmt.Errorf("csv: %w", err)
		}
	}
	d.tape = &tape{r: d.src}
	d.cr = csv.NewReader(d.tape)
	d.cr.FieldsPerRecord = -1
	h, err := d.cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("csv header: %w", err)
	}
	if err := CheckUTF8(d.tape.buf[:d.cr.InputOffset()-d.tape.start], d.base); err != nil {
		return fmt.Errorf("csv header line 1: %w", err)
	}
	d.prev = d.cr.InputOffset()
	d.tape.drop(d.prev)
	if d.base+d.prev > d.skip && d.skip > 0 {
		return fmt.Errorf("csv: skip offset %d is inside the header (ends at %d)", d.skip, d.base+d.prev)
	}
	return d.setHeader(h)
}

func (d *csvDecoder) setHeader(h []string) error {
	seen := map[string]bool{}
	for i, name := range h {
		if name == "" {
			return fmt.Errorf("csv header line 1: column %d has no name", i+1)
		}
		if seen[name] {
			return fmt.Errorf("csv header line 1: duplicate column %q", name)
		}
		seen[name] = true
	}
	d.header = h
	return nil
}

// read decodes one row, good or bad.
func (d *csvDecoder) read() (Record, error) {
	fields, err := d.cr.Read()
	var pe *csv.ParseError
	switch {
	case errors.Is(err, io.EOF):
		if d.base+d.prev < d.skip {
			return Record{}, fmt.Errorf("skip to offset %d: %w (input has %d bytes)", d.skip, ErrSkipPastEnd, d.base+d.prev)
		}
		return Record{}, io.EOF
	case err != nil && !errors.As(err, &pe):
		return Record{}, fmt.Errorf("csv: %w", err)
	}
	end := d.cr.InputOffset()
	whole := d.tape.take(d.prev, end)
	rec := Record{Offset: d.base + end, Raw: trimLines(whole), Header: d.header}
	start := d.base + d.prev
	d.prev = end
	if err := CheckUTF8(whole, start); err != nil {
		line := int64(0)
		if pe != nil {
			line = int64(pe.StartLine)
		} else {
			l, _ := d.cr.FieldPos(0)
			line = int64(l)
		}
		rec.Line = line
		rec.Err = fmt.Errorf("line %d: %w", line, err)
		return rec, nil
	}
	if pe != nil {
		rec.Line = int64(pe.StartLine)
		rec.Err = fmt.Errorf("line %d: malformed CSV: %w", pe.StartLine, pe.Err)
		return rec, nil
	}
	line, _ := d.cr.FieldPos(0)
	rec.Line = int64(line)
	if len(fields) != len(d.header) {
		rec.Err = fmt.Errorf("line %d: row has %d fields, the header has %d", line, len(fields), len(d.header))
		return rec, nil
	}
	rec.Fields = make(map[string]any, len(fields))
	for i, f := range fields {
		rec.Fields[d.header[i]] = f
	}
	return rec, nil
}

// trimLines drops the blank lines before a record and its line terminator.
func trimLines(b []byte) []byte {
	return bytes.Trim(b, "\r\n")
}

// tape records what csv.Reader reads so each record's raw bytes can be cut out by offset.
type tape struct {
	r     io.Reader
	buf   []byte
	start int64 // offset of buf[0]
}

func (t *tape) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

// take returns a copy of bytes [from, to) and forgets everything before to.
func (t *tape) take(from, to int64) []byte {
	out := bytes.Clone(t.buf[from-t.start : to-t.start])
	t.drop(to)
	return out
}

func (t *tape) drop(to int64) {
	t.buf = append(t.buf[:0], t.buf[to-t.start:]...)
	t.start = to
}

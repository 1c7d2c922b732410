package ingest

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encodings are the text encodings a file or stdin source may declare (DecoderOptions.Encoding).
var Encodings = []string{"utf-8", "utf-16", "latin1", "windows-1252"}

// InvalidUTF8 returns the index of the first byte of b that is not part of a valid UTF-8
// sequence, or -1 when b is valid UTF-8. Every source runs it before decoding a record, because
// the JSON decoder (and the JSON encoder of a row) silently replaces invalid bytes with U+FFFD.
func InvalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1 // not reached: utf8.Valid said otherwise
}

// UTF8Error says where invalid UTF-8 was found.
type UTF8Error struct {
	Offset int64 // byte offset of the first bad byte in the input (file, value or body)
	Byte   byte
}

func (e *UTF8Error) Error() string {
	return fmt.Sprintf("invalid UTF-8: byte 0x%02X at offset %d", e.Byte, e.Offset)
}

// CheckUTF8 returns a *UTF8Error for the first invalid byte of b, whose first byte is at offset
// base of its input; nil when b is valid UTF-8.
func CheckUTF8(b []byte, base int64) error {
	if i := InvalidUTF8(b); i >= 0 {
		return &UTF8Error{Offset: base + int64(i), Byte: b[i]}
	}
	return nil
}

// LoneSurrogate returns the index in raw JSON text of the first \u escape that is a UTF-16
// surrogate without its pair (which the JSON decoder would turn into U+FFFD), or -1.
func LoneSurrogate(raw []byte) int {
	if !bytes.Contains(raw, []byte(`\u`)) && !bytes.Contains(raw, []byte(`\U`)) {
		return -1
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // skip the escaped byte (a backslash, quote, ...)
			continue
		}
		r, ok := hex4(raw[i+2:])
		switch {
		case !ok || r < 0xD800 || r > 0xDFFF:
			i += 1
		case r >= 0xDC00: // a low surrogate with no high one before it
			return i
		default:
			lo, ok := hex4(raw[min(i+8, len(raw)):])
			if i+7 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' || !ok || lo < 0xDC00 || lo > 0xDFFF {
				return i
			}
			i += 11
		}
	}
	return -1
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// checkJSONText checks raw JSON text for invalid UTF-8 and lone surrogate escapes; base is the
// offset of raw[0] in its input.
func checkJSONText(raw []byte, base int64) error {
	if err := CheckUTF8(raw, base); err != nil {
		return err
	}
	if i := LoneSurrogate(raw); i >= 0 {
		return fmt.Errorf("invalid JSON: unpaired UTF-16 surrogate escape %q at offset %d", raw[i:min(i+6, len(raw))], base+int64(i))
	}
	return nil
}

// CheckJSONText is checkJSONText for other packages (Kafka values, HTTP rows).
func CheckJSONText(raw []byte, base int64) error { return checkJSONText(raw, base) }

// encodingOf returns the x/text encoding for a declared name; nil for UTF-8.
func encodingOf(name string) (encoding.Encoding, error) {
	switch name {
	case "", "utf-8":
		return nil, nil
	case "utf-16":
		return unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), nil
	case "latin1":
		return charmap.ISO8859_1, nil
	case "windows-1252":
		return charmap.Windows1252, nil
	}
	return nil, fmt.Errorf("unknown encoding %q (want utf-8, utf-16, latin1 or windows-1252)", name)
}

// utf16BOM reports whether b starts with a UTF-16 byte order mark.
func utf16BOM(b []byte) bool {
	return bytes.HasPrefix(b, []byte{0xFF, 0xFE}) || bytes.HasPrefix(b, []byte{0xFE, 0xFF})
}

// peeker is a reader that can look ahead (bufio.Reader).
type peeker interface {
	io.Reader
	Peek(n int) ([]byte, error)
}

// textReader returns r as UTF-8 text: a declared non-UTF-8 encoding is converted, and a byte
// order mark at the start wins over the declaration (UTF-16 with a BOM is read as UTF-16 even
// when nothing was declared; a UTF-8 BOM in a file declared latin1 means UTF-8). A UTF-8 BOM
// itself is left for the decoders, which skip it. Offsets of records read through a converted
// reader count bytes of the converted UTF-8 text.
func textReader(r peeker, name string) (io.Reader, error) {
	enc, err := encodingOf(name)
	if err != nil {
		return nil, err
	}
	head, _ := r.Peek(3)
	switch {
	case utf16BOM(head):
		return transform.NewReader(r, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()), nil
	case bytes.HasPrefix(head, []byte("\xef\xbb\xbf")) || enc == nil:
		return r, nil
	}
	return transform.NewReader(r, enc.NewDecoder()), nil
}

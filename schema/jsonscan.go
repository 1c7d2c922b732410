package schema

import (
	"unicode/utf16"
	"unicode/utf8"
)

// JSON value kinds seen by the one-pass scanner.
const (
	kindNone byte = iota // absent
	kindNull
	kindTrue
	kindFalse
	kindNumber
	kindString
	kindObject
	kindArray
)

// maxScanDepth bounds the nesting the scanner validates itself; deeper input is left to the
// map path (encoding/json allows 10,000 levels).
const maxScanDepth = 256

// jsonScanner validates JSON text byte by byte, as encoding/json does, without building values.
// Any failure only means "not handled here": the caller falls back to encoding/json, which
// gives the error. The text must be valid UTF-8 (checked before).
type jsonScanner struct {
	b   []byte
	i   int
	esc bool // the last string scanned held escapes
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end.
func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str scans a string starting at its opening quote. It returns the text between the quotes and
// whether it holds escapes. Control characters and surrogate escapes without their pair (which
// encoding/json would turn into U+FFFD) fail.
func (s *jsonScanner) str() (start, end int, esc, ok bool) {
	s.i++ // the quote
	start = s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			s.esc = esc
			return start, s.i - 1, esc, true
		case c == '\\':
			esc = true
			if !s.escape() {
				return 0, 0, false, false
			}
		case c < 0x20:
			return 0, 0, false, false
		default:
			s.i++
		}
	}
	return 0, 0, false, false
}

// escape scans one escape sequence at s.i (a backslash).
func (s *jsonScanner) escape() bool {
	if s.i+1 >= len(s.b) {
		return false
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		r, ok := hex4At(s.b, s.i+2)
		if !ok {
			return false
		}
		if !utf16.IsSurrogate(r) {
			s.i += 6
			return true
		}
		lo, ok := hex4At(s.b, s.i+8)
		if r >= 0xDC00 || !ok || s.b[s.i+6] != '\\' || s.b[s.i+7] != 'u' || lo < 0xDC00 || lo > 0xDFFF {
			return false
		}
		s.i += 12
		return true
	}
	return false
}

// hex4At reads 4 hex digits at b[i:].
func hex4At(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// number scans a number as JSON's grammar has it.
func (s *jsonScanner) number() bool {
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return false
	}
	if s.peek() == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *jsonScanner) digits() int {
	n := 0
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
		n++
	}
	return n
}

// literal scans true, false or null.
func (s *jsonScanner) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// value scans one value at s.i (no leading space) and returns its kind; kindNone on a failure.
func (s *jsonScanner) value(depth int) byte {
	switch c := s.peek(); {
	case c == '"':
		if _, _, _, ok := s.str(); ok {
			return kindString
		}
	case c == '{':
		if s.object(depth + 1) {
			return kindObject
		}
	case c == '[':
		if s.array(depth + 1) {
			return kindArray
		}
	case c == 't':
		if s.literal("true") {
			return kindTrue
		}
	case c == 'f':
		if s.literal("false") {
			return kindFalse
		}
	case c == 'n':
		if s.literal("null") {
			return kindNull
		}
	case c == '-' || isDigit(c):
		if s.number() {
			return kindNumber
		}
	}
	return kindNone
}

// object validates a nested object at s.i.
func (s *jsonScanner) object(depth int) bool {
	if depth > maxScanDepth {
		return false
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		if s.peek() != '"' {
			return false
		}
		if _, _, _, ok := s.str(); !ok {
			return false
		}
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		if s.value(depth) == kindNone {
			return false
		}
		if more, ok := s.next('}'); !more {
			return ok
		}
	}
}

// next consumes the space and the comma or closing byte after an element: more when another
// element follows, !ok when neither came.
func (s *jsonScanner) next(closing byte) (more, ok bool) {
	s.ws()
	switch s.peek() {
	case ',':
		s.i++
		s.ws()
		return true, true
	case closing:
		s.i++
		return false, true
	}
	return false, false
}

// array validates a nested array at s.i.
func (s *jsonScanner) array(depth int) bool {
	if depth > maxScanDepth {
		return false
	}
	s.i++
	s.ws()
	if s.peek() == ']' {
		s.i++
		return true
	}
	for {
		if s.value(depth) == kindNone {
			return false
		}
		if more, ok := s.next(']'); !more {
			return ok
		}
	}
}

// unescape appends the text of a JSON string's inside (valid, surrogates paired) to dst.
func unescape(dst, in []byte) []byte {
	for i := 0; i < len(in); {
		c := in[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch in[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4At(in, i+2)
			if utf16.IsSurrogate(r) {
				lo, _ := hex4At(in, i+8)
				r = utf16.DecodeRune(r, lo)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default: // " \ /
			dst = append(dst, in[i+1])
		}
		i += 2
	}
	return dst
}

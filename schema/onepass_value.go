package schema

import (
	"encoding/json"
	"strconv"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// appendText appends the value whose text (a string's inside its quotes) is text, coerced to
// c's type exactly as encode does for the decoded value; false when encode would fail or the
// value is an object or array.
func (c *column) appendText(dst, text []byte, v fieldVal, st *passState) ([]byte, bool) {
	switch v.kind {
	case kindString:
		if !v.esc {
			if out, ok := c.appendPlainString(dst, text); ok {
				return out, true
			}
		}
		s := string(text)
		if v.esc {
			st.buf = unescape(st.buf[:0], text)
			s = string(st.buf)
		}
		if c.typ == config.TypeDateTime && c.unit == 0 {
			return c.appendTimeOf(dst, s)
		}
		return c.encodeOK(dst, s)
	case kindNumber:
		return c.appendNumber(dst, text)
	case kindTrue, kindFalse:
		b := v.kind == kindTrue
		switch c.typ {
		case config.TypeBoolean:
			return strconv.AppendBool(dst, b), true
		case config.TypeString:
			return append(strconv.AppendBool(append(dst, '"'), b), '"'), true
		}
		return c.encodeOK(dst, b)
	}
	return dst, false
}

// appendPlainString handles the common cases of a string without escapes; false means "use
// the general path", not a failure.
func (c *column) appendPlainString(dst, text []byte) ([]byte, bool) {
	switch c.typ {
	case config.TypeString:
		if len(text) <= config.MaxStringLen && htmlSafe(text) {
			return append(append(append(dst, '"'), text...), '"'), true
		}
	case config.TypeInt64:
		if n, ok := smallInt(string(text)); ok {
			return strconv.AppendInt(dst, n, 10), true
		}
	case config.TypeDateTime:
		if c.unit == 0 && c.layout == "" {
			return appendUTCText(dst, text)
		}
	}
	return dst, false
}

// appendNumber appends a JSON number (its text) coerced to c's type.
func (c *column) appendNumber(dst, text []byte) ([]byte, bool) {
	switch c.typ {
	case config.TypeInt64:
		if n, ok := smallInt(string(text)); ok {
			return strconv.AppendInt(dst, n, 10), true
		}
	case config.TypeDouble:
		if plainDouble(text) {
			return append(dst, text...), true
		}
		out, res := appendDoubleText(dst, string(text))
		return out, res == numOK
	case config.TypeString:
		if len(text) <= config.MaxStringLen { // a number's text needs no escaping
			return append(append(append(dst, '"'), text...), '"'), true
		}
	}
	return c.encodeOK(dst, json.Number(string(text)))
}

// appendTimeOf appends the DateTime of a string value (a column without unix).
func (c *column) appendTimeOf(dst []byte, s string) ([]byte, bool) {
	t, err := c.timeOfString(s)
	if err != nil {
		return dst, false
	}
	return appendTime(dst, t), true
}

func (c *column) encodeOK(dst []byte, v any) ([]byte, bool) {
	out, err := c.encode(dst, v)
	if err != nil {
		return dst, false
	}
	return out, true
}

// htmlSafe reports whether json.Marshal writes the valid UTF-8 string s (no quote, backslash or
// control character) unchanged: it escapes <, > and & and the separators U+2028 and U+2029.
func htmlSafe(s []byte) bool {
	for i, c := range s {
		switch c {
		case '<', '>', '&':
			return false
		case 0xE2:
			if i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9) {
				return false
			}
		}
	}
	return true
}

// appendUTCText appends the DateTime of the common text YYYY-MM-DDTHH:MM:SS[.mmm]Z: the wire
// format is that text with the milliseconds made explicit. false for any other text, or a
// value out of range (time.Parse then decides).
func appendUTCText(dst, s []byte) ([]byte, bool) {
	if (len(s) != 20 && len(s) != 24) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
		s[16] != ':' || s[len(s)-1] != 'Z' || (len(s) == 24 && (s[19] != '.' || digitsAt(s, 20, 3) < 0)) {
		return dst, false
	}
	year, month, day := digitsAt(s, 0, 4), digitsAt(s, 5, 2), digitsAt(s, 8, 2)
	hour, minute, sec := digitsAt(s, 11, 2), digitsAt(s, 14, 2), digitsAt(s, 17, 2)
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return dst, false
	}
	dst = append(append(dst, '"'), s[:19]...)
	if len(s) == 24 {
		dst = append(dst, s[19:23]...)
	} else {
		dst = append(dst, ".000"...)
	}
	return append(dst, `Z"`...), true
}

// digitsAt reads n decimal digits at s[i:]; -1 when one is not a digit.
func digitsAt(s []byte, i, n int) int {
	v := 0
	for _, c := range s[i : i+n] {
		if !isDigit(c) {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// daysIn is the number of days of month in year (Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// plainDouble reports whether the Double of the JSON number text s formats back as s itself
// (strconv 'g', shortest): no exponent, at most 15 significant digits (so they round-trip and
// none shorter does), no trailing zero after the point, and a magnitude that 'g' writes
// without an exponent (integer part of at most 6 digits, at most 3 zeros after "0.").
func plainDouble(s []byte) bool {
	i := 0
	if len(s) > 0 && s[0] == '-' {
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intLen := i - intStart
	if intLen == 0 || intLen > 6 {
		return false
	}
	sig := intLen
	if s[intStart] == '0' {
		sig = 0 // JSON allows no other leading zero
	}
	if i == len(s) {
		return sig <= 15
	}
	if s[i] != '.' || s[len(s)-1] == '0' {
		return false
	}
	zeros := 0
	for i++; i < len(s); i++ {
		switch c := s[i]; {
		case !isDigit(c):
			return false
		case sig == 0 && c == '0':
			zeros++
		default:
			sig++
		}
	}
	return sig <= 15 && (intLen > 1 || s[intStart] != '0' || zeros <= 3)
}

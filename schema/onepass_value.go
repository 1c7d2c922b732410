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

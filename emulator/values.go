package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// tooLongReason is the part of a value error that marks a String over the length limit.
const tooLongReason = "characters long; the limit is"

// rowRules are the value rules applied to POST rows.
type rowRules struct {
	table     string
	index     map[string]string // column → canonical type
	columns   []Column
	maxString int
	marker    string
	strict    bool // refuse strings for Int64, Double, Decimal and Boolean columns
}

// checkRows validates every row; the first invalid one rejects the request. A row whose
// strings were converted to their column's type is replaced by the converted row.
func (r rowRules) checkRows(rows []json.RawMessage) *apiError {
	for i, raw := range rows {
		msg, conv := r.checkRow(i, raw)
		if msg != "" {
			aerr := badRequest(fmt.Sprintf("rows[%d]", i), "%s", msg)
			if strings.Contains(msg, tooLongReason) {
				aerr.limit = LimitStringLength
			}
			return aerr
		}
		if conv != nil {
			rows[i] = conv
		}
	}
	return nil
}

// checkRow returns "" for a valid row, else the service-style reason naming row and column,
// and the row re-encoded when a value was converted (nil if none was).
func (r rowRules) checkRow(i int, raw json.RawMessage) (string, json.RawMessage) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return fmt.Sprintf("Row %d: a row must be a JSON object of column values", i), nil
	}
	found, converted := 0, false
	for _, c := range r.columns {
		v, ok := m[c.Name]
		if !ok {
			continue
		}
		found++
		reason, conv := r.checkValue(c.DataType, v)
		if reason != "" {
			return fmt.Sprintf("Row %d: value %s of column '%s' %s", i, quote(v), c.Name, reason), nil
		}
		if conv != nil {
			m[c.Name], converted = conv, true
		}
	}
	if found < len(m) {
		return fmt.Sprintf("Row %d: column '%s' does not exist in table '%s'", i, r.unknown(m), r.table), nil
	}
	if !converted {
		return "", nil
	}
	out, err := json.Marshal(m)
	if err != nil {
		return fmt.Sprintf("Row %d: the row cannot be encoded", i), nil
	}
	return "", out
}

// unknown returns the first (sorted) key of m that is not a column.
func (r rowRules) unknown(m map[string]json.RawMessage) string {
	var keys []string
	for k := range m {
		if _, ok := r.index[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys[0]
}

// checkValue returns "" if v is valid for typ, else the reason; conv is the converted value
// when v is a string that converts to typ (nil otherwise).
func (r rowRules) checkValue(typ string, v json.RawMessage) (reason string, conv json.RawMessage) {
	if string(v) == "null" {
		return "", nil
	}
	if v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "is not a valid " + typ, nil
		}
		if r.marker != "" && strings.Contains(s, r.marker) {
			return fmt.Sprintf("contains the rejected marker %q", r.marker), nil
		}
		if typ == "String" || typ == "DateTime" || r.strict {
			return r.checkString(typ, s), nil
		}
		return convertString(typ, s)
	}
	return checkLiteral(typ, string(v)), nil
}

// checkLiteral checks a non-string JSON value against typ.
func checkLiteral(typ, v string) string {
	switch typ {
	case "Int64":
		return checkInt64(v)
	case "Double":
		return checkFloat(v, math.MaxFloat64, "Double")
	case "Decimal":
		return checkFloat(v, 7.9228162514264337593543950335e28, "Decimal")
	case "Boolean":
		if v == "true" || v == "false" {
			return ""
		}
	}
	return "is not a valid " + typ
}

// jsonNumber is the JSON number grammar.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// convertString converts a string holding an Int64, Double, Decimal or Boolean (surrounding
// spaces and a leading '+' allowed, Boolean case-insensitive, as .NET parses them) to the JSON
// literal stored for it.
func convertString(typ, s string) (string, json.RawMessage) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "+")
	switch typ {
	case "Boolean":
		switch strings.ToLower(t) {
		case "true", "false":
			return "", json.RawMessage(strings.ToLower(t))
		}
	case "Int64":
		n, err := strconv.ParseInt(t, 10, 64)
		if reason := checkInt64(t); reason != "" || err != nil {
			return reason, nil
		}
		return "", json.RawMessage(strconv.FormatInt(n, 10))
	case "Double", "Decimal":
		if !jsonNumber.MatchString(t) {
			break
		}
		if reason := checkLiteral(typ, t); reason != "" {
			return reason, nil
		}
		return "", json.RawMessage(t)
	}
	return "is not a valid " + typ, nil
}

func (r rowRules) checkString(typ, s string) string {
	switch typ {
	case "String":
		if n := utf16Len(s); n > r.maxString {
			return fmt.Sprintf("is %d "+tooLongReason+" %d", n, r.maxString)
		}
		return ""
	case "DateTime":
		if validDateTime(s) {
			return ""
		}
	}
	return "is not a valid " + typ
}

func checkInt64(s string) string {
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return "is out of range for Int64"
	}
	if err != nil {
		return "is not a valid Int64"
	}
	if n == math.MaxInt64 || n == math.MinInt64 {
		return "is not allowed: Int64 min and max values are reserved"
	}
	return ""
}

func checkFloat(s string, limit float64, typ string) string {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return "is not a valid " + typ
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "is not a finite " + typ
	}
	if math.Abs(f) >= limit {
		return "is out of range for " + typ
	}
	return ""
}

// validDateTime accepts ISO 8601 date and date-time forms (with or without offset and fraction)
// and the MM/DD/YYYY form used by the official Post Rows example.
func validDateTime(s string) bool {
	_, ok := parseDateTime(s)
	return ok
}

// parseDateTime parses the DateTime forms validDateTime accepts.
func parseDateTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04Z07:00",
		"2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02", "01/02/2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1)
	}
	return n
}

// quote renders a raw JSON value for an error message, shortened.
func quote(v json.RawMessage) string {
	s := string(v)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	if s != "" && s[0] == '"' {
		s = "'" + strings.Trim(s, `"`) + "'"
	} else {
		s = "'" + s + "'"
	}
	return s
}

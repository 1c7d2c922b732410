package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// rowRules are the value rules applied to POST rows.
type rowRules struct {
	table     string
	index     map[string]string // column → canonical type
	columns   []Column
	maxString int
	marker    string
}

// checkRows validates every row; the first invalid one rejects the request.
func (r rowRules) checkRows(rows []json.RawMessage) *apiError {
	for i, raw := range rows {
		if msg := r.checkRow(i, raw); msg != "" {
			return badRequest(fmt.Sprintf("rows[%d]", i), "%s", msg)
		}
	}
	return nil
}

// checkRow returns "" for a valid row, else the service-style reason naming row and column.
func (r rowRules) checkRow(i int, raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return fmt.Sprintf("Row %d: a row must be a JSON object of column values", i)
	}
	found := 0
	for _, c := range r.columns {
		v, ok := m[c.Name]
		if !ok {
			continue
		}
		found++
		if reason := r.checkValue(c.DataType, v); reason != "" {
			return fmt.Sprintf("Row %d: value %s of column '%s' %s", i, quote(v), c.Name, reason)
		}
	}
	if found < len(m) {
		return fmt.Sprintf("Row %d: column '%s' does not exist in table '%s'", i, r.unknown(m), r.table)
	}
	return ""
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

// checkValue returns "" if v is valid for typ, else the reason.
func (r rowRules) checkValue(typ string, v json.RawMessage) string {
	if string(v) == "null" {
		return ""
	}
	if v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "is not a valid " + typ
		}
		if r.marker != "" && strings.Contains(s, r.marker) {
			return fmt.Sprintf("contains the rejected marker %q", r.marker)
		}
		return r.checkString(typ, s)
	}
	switch typ {
	case "Int64":
		return checkInt64(string(v))
	case "Double":
		return checkFloat(string(v), math.MaxFloat64, "Double")
	case "Decimal":
		return checkFloat(string(v), 7.9228162514264337593543950335e28, "Decimal")
	case "Boolean":
		if string(v) == "true" || string(v) == "false" {
			return ""
		}
	}
	return "is not a valid " + typ
}

func (r rowRules) checkString(typ, s string) string {
	switch typ {
	case "String":
		if n := utf16Len(s); n > r.maxString {
			return fmt.Sprintf("is %d characters long; the limit is %d", n, r.maxString)
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
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04Z07:00",
		"2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02", "01/02/2006"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
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

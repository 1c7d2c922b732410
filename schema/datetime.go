package schema

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// outLayout is the DateTime wire format: RFC 3339, UTC, milliseconds.
const outLayout = "2006-01-02T15:04:05.000Z"

// isoLayouts are tried in order for DateTime strings without a configured layout. Fractional
// seconds are accepted after the seconds field by time.Parse even though the layouts omit them.
var isoLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// appendTime appends t as a quoted JSON string in the DateTime wire format.
func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	return append(t.UTC().AppendFormat(dst, outLayout), '"')
}

// toTime converts a DateTime input (see the package doc) to a time in UTC.
func (c *column) toTime(v any) (time.Time, error) {
	if t, ok := v.(time.Time); ok {
		return checkYear(t.UTC(), v)
	}
	if c.unit != 0 {
		return unixTime(v, c.unit)
	}
	s, ok := v.(string)
	if !ok {
		if _, num := v.(json.Number); num {
			return time.Time{}, fmt.Errorf("number %s needs unix: s|ms|us|ns on a DateTime column", describe(v))
		}
		return time.Time{}, fmt.Errorf("cannot use %s as DateTime", describe(v))
	}
	return c.timeOfString(s)
}

// timeOfString is toTime for a string value on a column without unix.
func (c *column) timeOfString(v string) (time.Time, error) {
	s := strings.TrimSpace(v)
	if c.layout != "" {
		t, err := time.Parse(c.layout, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s does not match layout %q", describe(v), c.layout)
		}
		return checkYear(t.UTC(), v)
	}
	for _, l := range isoLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return checkYear(t.UTC(), v)
		}
	}
	return time.Time{}, fmt.Errorf("%s is not an RFC 3339 / ISO 8601 date-time", describe(v))
}

func checkYear(t time.Time, v any) (time.Time, error) {
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("%s is outside years 1-9999", describe(v))
	}
	return t, nil
}

// unixTime reads a count of units since the epoch; fractions are allowed and truncated to ns.
func unixTime(v any, unit time.Duration) (time.Time, error) {
	r, err := parseRat(v)
	if err != nil {
		return time.Time{}, err
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(unit)))
	ns := new(big.Int).Quo(r.Num(), r.Denom())
	if !ns.IsInt64() {
		return time.Time{}, fmt.Errorf("unix time %s is out of range (years 1678-2262)", describe(v))
	}
	return time.Unix(0, ns.Int64()).UTC(), nil
}

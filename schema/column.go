package schema

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// column is one compiled column.
type column struct {
	name     string
	typ      string // canonical type
	key      []byte // `"name":` ready to append
	from     fieldPath
	required bool
	ingest   bool          // timestamp: ingest
	layout   string        // Go layout for DateTime input
	unit     time.Duration // unix unit; 0 = not numeric
	truncate bool          // on_long_string: truncate (String only)
	def      []byte        // encoded default value; nil = none
}

var unixUnits = map[string]time.Duration{
	"s": time.Second, "ms": time.Millisecond, "us": time.Microsecond, "ns": time.Nanosecond,
}

func compileColumn(c config.Column, truncate bool) (column, error) {
	typ, _ := config.CanonicalType(c.Type) // validated by the caller
	key, err := json.Marshal(c.Name)
	if err != nil {
		return column{}, fmt.Errorf("column %q: %w", c.Name, err)
	}
	from := c.From
	if from == "" {
		from = c.Name
	}
	col := column{
		name: c.Name, typ: typ, key: append(key, ':'), from: parsePath(from),
		required: c.Required, ingest: c.Timestamp == "ingest", layout: c.Layout,
		unit: unixUnits[c.Unix], truncate: truncate,
	}
	if c.Default != nil {
		def, err := col.encode(nil, c.Default)
		if err != nil {
			return column{}, fmt.Errorf("column %q: default: %w", c.Name, err)
		}
		col.def = def
	}
	return col, nil
}

// encode appends v, coerced to the column's type, as JSON. v must not be missing.
func (c *column) encode(dst []byte, v any) ([]byte, error) {
	switch c.typ {
	case config.TypeInt64:
		return appendInt64(dst, v)
	case config.TypeDouble:
		return appendDouble(dst, v)
	case config.TypeDecimal:
		return appendDecimal(dst, v)
	case config.TypeBoolean:
		return appendBool(dst, v)
	case config.TypeDateTime:
		t, err := c.toTime(v)
		if err != nil {
			return nil, err
		}
		return appendTime(dst, t), nil
	default:
		return appendString(dst, v, c.truncate)
	}
}

// missing reports whether v counts as absent for this column.
func (c *column) missing(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && s == "" && c.typ != config.TypeString
}

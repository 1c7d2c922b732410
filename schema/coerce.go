package schema

import (
	"fmt"
	"time"
)

// Coerce maps rec (JSON values with numbers as json.Number, or CSV strings) onto the columns and
// returns the row as a JSON object with the columns in declared order. DateTime values are
// RFC 3339 UTC. now fills timestamp: ingest. A failure is a *FieldError naming the column.
func (t *Table) Coerce(rec map[string]any, now time.Time) ([]byte, error) {
	if err := t.checkUnknown(rec); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 64*len(t.cols))
	out = append(out, '{')
	for i := range t.cols {
		var err error
		if out, err = t.cols[i].appendField(out, rec, now); err != nil {
			return nil, err
		}
	}
	if len(out) > 1 {
		out = out[:len(out)-1] // the last comma
	}
	return append(out, '}'), nil
}

// appendField appends `"name":value,` for one column, or nothing when it is omitted.
func (c *column) appendField(out []byte, rec map[string]any, now time.Time) ([]byte, error) {
	if c.ingest {
		out = append(append(out, c.key...), appendTime(nil, now)...)
		return append(out, ','), nil
	}
	v := c.from.lookup(rec)
	if c.missing(v) {
		switch {
		case c.def != nil:
			out = append(append(out, c.key...), c.def...)
			return append(out, ','), nil
		case c.required:
			return nil, &FieldError{Column: c.name, Reason: "required value is missing" + c.fromNote()}
		}
		return out, nil
	}
	enc, err := c.encode(append(out, c.key...), v)
	if err != nil {
		return nil, &FieldError{Column: c.name, Reason: err.Error() + c.fromNote()}
	}
	return append(enc, ','), nil
}

func (c *column) fromNote() string {
	if c.from.raw == c.name {
		return ""
	}
	return fmt.Sprintf(" (from %q)", c.from.raw)
}

// checkUnknown counts (or, with unknown_fields: reject, refuses) fields no column reads.
func (t *Table) checkUnknown(rec map[string]any) error {
	var n int64
	first := ""
	for k := range rec {
		if t.known[k] {
			continue
		}
		n++
		if first == "" || k < first {
			first = k
		}
	}
	if n == 0 {
		return nil
	}
	if t.reject {
		return &FieldError{Column: first, Reason: fmt.Sprintf("unknown field (%d unknown; unknown_fields: reject)", n)}
	}
	t.unknown.Add(n)
	return nil
}

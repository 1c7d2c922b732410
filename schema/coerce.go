package schema

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNoFieldMatched is the reason of a record none of whose fields a column reads: it is a dead
// letter, never an empty row.
var ErrNoFieldMatched = errors.New("no field matched a column")

// ErrNoValues is the reason of a record whose matched fields are all empty and whose columns
// have no defaults: the row would be empty ({}).
var ErrNoValues = errors.New("no column has a value (every matched field is empty)")

// Coerce maps rec (JSON values with numbers as json.Number, or CSV strings) onto the columns and
// returns the row as a JSON object with the columns in declared order. DateTime values are
// RFC 3339 UTC. now fills timestamp: ingest. A failure is a *FieldError naming the column.
func (t *Table) Coerce(rec map[string]any, now time.Time) ([]byte, error) {
	return t.coerce(rec, now, true)
}

// Precheck is a view of a Table whose Coerce does not count ignored unknown fields: for checking
// rows up front that are coerced again, and counted then, when they are written (HTTP ingest
// checks a whole request before spooling any row of it).
type Precheck struct{ t *Table }

// Precheck returns t's uncounted view.
func (t *Table) Precheck() Precheck { return Precheck{t} }

// Coerce is Table.Coerce without counting unknown fields.
func (p Precheck) Coerce(rec map[string]any, now time.Time) ([]byte, error) {
	return p.t.coerce(rec, now, false)
}

func (t *Table) coerce(rec map[string]any, now time.Time, count bool) ([]byte, error) {
	rec, err := t.checkFields(rec, count)
	if err != nil {
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
	if len(out) == 1 {
		return nil, ErrNoValues
	}
	out = out[:len(out)-1] // the last comma
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

// checkFields renames fields that differ from a column's field only in case, refuses a record
// of which no field matches a column, and counts (or, with unknown_fields: reject, refuses)
// fields no column reads. It returns the record to read (rec itself unless a field was renamed).
func (t *Table) checkFields(rec map[string]any, count bool) (map[string]any, error) {
	var n int64
	first := ""
	var folded map[string]string // field -> the known key it stands for
	known := 0
	for k := range rec {
		if t.known[k] {
			known++
			continue
		}
		if to, ok := t.fold[strings.ToLower(k)]; ok {
			if _, exact := rec[to]; !exact {
				if folded == nil {
					folded = map[string]string{}
				}
				for other, o := range folded {
					if o == to {
						// Two fields stand for one only by case ({"name":…,"NAME":…} for Name):
						// picking one would depend on map order, so the record is refused.
						a, b := min(k, other), max(k, other)
						return nil, &FieldError{Column: to, Reason: fmt.Sprintf("fields %q and %q both match %q only by case", a, b, to)}
					}
				}
				folded[k] = to
				known++
				continue
			}
		}
		n++
		if first == "" || k < first {
			first = k
		}
	}
	if known == 0 {
		return nil, ErrNoFieldMatched
	}
	if n > 0 {
		if t.reject {
			return nil, &FieldError{Column: first, Reason: fmt.Sprintf("unknown field (%d unknown; unknown_fields: reject)", n)}
		}
		if count {
			t.unknown.Add(n)
		}
	}
	if folded == nil {
		return rec, nil
	}
	renamed := make(map[string]any, len(rec))
	for k, v := range rec {
		if to, ok := folded[k]; ok {
			k = to
		}
		renamed[k] = v
	}
	return renamed, nil
}

// Package schema maps input records onto a declared Power BI table: it finds each column's value,
// coerces it to the column type, checks it against the service's rules and encodes the row.
//
// # Finding a value
//
// A column reads the record field named by its from option (default: the column name). from is
// either a JSON pointer ("/a/b/0", RFC 6901) or a dotted path ("a.b.0"); a dotted path first
// tries the whole text as one key, so a field literally named "a.b" wins. Numeric segments index
// arrays. A missing field, a JSON null and (for every type but String) an empty string all count
// as missing: the column's default is used, a required column fails, and otherwise the column is
// omitted from the row (Power BI stores it as blank).
//
// # Coercion rules
//
//   - Int64: integers, and numbers or numeric strings with an integral value ("42", "4.2e1",
//     "42.0"). Int64's minimum and maximum are rejected, as by the service.
//   - Double: numbers and numeric strings; NaN, ±Inf, out-of-range values and ±MaxFloat64 are
//     rejected.
//   - Decimal: numbers and numeric strings, rounded half away from zero to 4 decimal places
//     (scale 4); values with more than 24 integer digits (precision 28) are rejected.
//   - Boolean: true/false; the strings (any case) true, t, yes, y, 1 and false, f, no, n, 0; the
//     numbers 1 and 0.
//   - String: strings as they are; numbers as their text; booleans as true/false; objects and
//     arrays as compact JSON. Over 4,000 characters (UTF-16 code units, as .NET counts) is
//     rejected, or cut to 4,000 with on_long_string: truncate.
//   - DateTime: see the time-zone rules below. timestamp: ingest always uses the time the row
//     was read, whatever the record holds.
//
// Numeric strings may carry surrounding spaces; hex, "Inf", "NaN" and digit separators are
// rejected. Booleans are never numbers and numbers never booleans except 1/0.
//
// # DateTime and time zones
//
// Output is RFC 3339 in UTC with millisecond precision, e.g. 2024-05-01T12:34:56.789Z (finer
// digits are truncated; the service quantises further to 1/300 s). Input, in order:
// with unix: s|ms|us|ns a number (or numeric string, fractions allowed) since the Unix epoch; with
// layout a Go time layout; otherwise RFC 3339 / ISO 8601: date-time with "T" or a space, optional
// fraction, optional zone (Z, +07:00, +0700), or a bare date. A value without a zone, in any
// form, is taken as UTC; a value with a zone is converted to UTC. Years must be 1–9999.
//
// # Unknown fields
//
// Top-level record fields that no column reads are ignored and counted (see
// Table.UnknownIgnored), or, with unknown_fields: reject, fail the row. A field that differs from
// a column's field only in case (value for Value) is read by that column, unless the exact field
// is present too or two columns' fields differ only in case. A record of which no field matches a
// column fails with ErrNoFieldMatched, and one whose row would be empty with ErrNoValues: no row
// is ever sent as {}. See MatchFields for checking a header before any row is read.
package schema

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// ColumnDef and TableDef are the Power BI wire shapes of a table definition.
type ColumnDef struct {
	Name     string `json:"name"`
	DataType string `json:"dataType"`
}

// TableDef is a table as Power BI's create-dataset and PUT-table calls expect it.
type TableDef struct {
	Name    string      `json:"name"`
	Columns []ColumnDef `json:"columns"`
}

// Table is a compiled table definition. It is safe for concurrent use; do not copy it.
type Table struct {
	name     string
	cols     []column
	known    map[string]bool   // top-level record fields some column reads
	fold     map[string]string // lower-cased known field -> the field, when no other differs only in case
	reject   bool              // unknown_fields: reject
	truncate bool              // on_long_string: truncate
	unknown  atomic.Int64
	onePass  *onePass // nil when a column reads a nested path
}

// FieldError says which column of a record failed and why.
type FieldError struct {
	Column string
	Reason string
}

func (e *FieldError) Error() string { return "column " + e.Column + ": " + e.Reason }

// Compile checks and compiles a configured table: the same checks as config validation, plus
// each column's default must coerce to the column's type.
func Compile(t config.Table) (*Table, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("table %q: %w", t.Name, err)
	}
	ct := &Table{
		name:     t.Name,
		known:    map[string]bool{},
		reject:   t.UnknownFields == "reject",
		truncate: t.OnLongString == "truncate",
	}
	for _, c := range t.Columns {
		col, err := compileColumn(c, ct.truncate)
		if err != nil {
			return nil, fmt.Errorf("table %q: %w", t.Name, err)
		}
		ct.cols = append(ct.cols, col)
		for _, k := range col.from.topKeys() {
			ct.known[k] = true
		}
	}
	ct.fold = foldMap(ct.known)
	ct.onePass = compileOnePass(ct)
	return ct, nil
}

// foldMap maps each known field's lower-case form to it; forms shared by two fields (a and A)
// are left out, so they match only exactly.
func foldMap(known map[string]bool) map[string]string {
	fold := map[string]string{}
	dup := map[string]bool{}
	for k := range known {
		l := strings.ToLower(k)
		if _, ok := fold[l]; ok {
			dup[l] = true
		}
		fold[l] = k
	}
	for l := range dup {
		delete(fold, l)
	}
	return fold
}

// Def returns the table's Power BI definition (canonical dataType names).
func (t *Table) Def() TableDef {
	d := TableDef{Name: t.name, Columns: make([]ColumnDef, len(t.cols))}
	for i, c := range t.cols {
		d.Columns[i] = ColumnDef{Name: c.name, DataType: c.typ}
	}
	return d
}

// Name returns the table name.
func (t *Table) Name() string { return t.name }

// UnknownIgnored returns how many unknown record fields were ignored so far (unknown_fields:
// ignore), counted per field per coerced record, whether or not the row was accepted.
func (t *Table) UnknownIgnored() int64 { return t.unknown.Load() }

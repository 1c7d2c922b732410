package schema

import (
	"fmt"
	"slices"
	"strings"
)

// Match is how a header (CSV) or a first record's field names map onto a table.
type Match struct {
	Fields   []string          // the header, as given
	Mapped   []string          // fields some column reads
	Unmapped []string          // fields no column reads
	Unfilled []string          // columns no field fills (timestamp: ingest columns excluded)
	CaseOnly map[string]string // field -> the column field it maps to, differing only in case
	Columns  []string          // the table's column names
}

// MatchFields checks field names against the table's columns, the way Coerce will map them.
func (t *Table) MatchFields(fields []string) Match {
	m := Match{Fields: fields, CaseOnly: map[string]string{}}
	present := map[string]bool{}
	for _, f := range fields {
		present[f] = true
	}
	for _, f := range fields {
		switch to, ok := t.fold[strings.ToLower(f)]; {
		case t.known[f]:
			m.Mapped = append(m.Mapped, f)
		case ok && !present[to]:
			m.Mapped = append(m.Mapped, f)
			m.CaseOnly[f] = to
			present[to] = true
		default:
			m.Unmapped = append(m.Unmapped, f)
		}
	}
	for _, c := range t.cols {
		m.Columns = append(m.Columns, c.name)
		if c.ingest {
			continue
		}
		if !slices.ContainsFunc(c.from.topKeys(), func(k string) bool { return present[k] }) {
			m.Unfilled = append(m.Unfilled, c.name)
		}
	}
	return m
}

// None reports whether no field maps to a column: the input is refused.
func (m Match) None() bool { return len(m.Mapped) == 0 }

// Partial reports whether some fields or columns are left over.
func (m Match) Partial() bool { return !m.None() && (len(m.Unmapped) > 0 || len(m.Unfilled) > 0) }

// Refusal describes a header of which no field maps to a column.
func (m Match) Refusal(table string) string {
	return fmt.Sprintf("no field of the header [%s] matches a column of table %s (columns: %s)",
		strings.Join(m.Fields, ", "), table, strings.Join(m.Columns, ", "))
}

// Warning describes a partial mapping.
func (m Match) Warning(table string) string {
	var parts []string
	if len(m.Unmapped) > 0 {
		parts = append(parts, fmt.Sprintf("no column reads fields [%s]", strings.Join(m.Unmapped, ", ")))
	}
	if len(m.Unfilled) > 0 {
		parts = append(parts, fmt.Sprintf("no field fills columns [%s]", strings.Join(m.Unfilled, ", ")))
	}
	return fmt.Sprintf("header maps only partly onto table %s: %s", table, strings.Join(parts, "; "))
}

// CaseNote describes fields mapped by case only ("" when there are none).
func (m Match) CaseNote(table string) string {
	if len(m.CaseOnly) == 0 {
		return ""
	}
	pairs := make([]string, 0, len(m.CaseOnly))
	for f, to := range m.CaseOnly {
		pairs = append(pairs, fmt.Sprintf("%s→%s", f, to))
	}
	slices.Sort(pairs)
	return fmt.Sprintf("header fields differ from table %s's fields only in case and map to them: %s", table, strings.Join(pairs, ", "))
}

package emulator

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// topN evaluates TOPN: the first N rows in stored order, or, ordered by a column, the top N
// with every row tied with the N-th (as DAX does). Result rows are capped at 100,000 rows or
// 1,000,000 values; a capped result carries the table error.
func (q *querySnapshot) topN(tn *daxTopN, includeNulls bool) map[string]any {
	t := q.table(tn.table)
	rows := t.rows
	if tn.order {
		rows = t.ordered(tn)
	} else if tn.n < len(rows) {
		rows = rows[:tn.n]
	}
	limit := min(maxQueryRows, maxQueryValues/max(len(t.columns), 1))
	out := map[string]any{}
	if len(rows) > limit {
		rows = rows[:limit]
		out["error"] = map[string]string{"code": CodeQueryFailure, "message": "More than " + itoa(limit) + " rows in a query result"}
	}
	result := make([]orderedRow, 0, len(rows))
	for _, raw := range rows {
		result = append(result, t.resultRow(raw, includeNulls))
	}
	out["rows"] = result
	return out
}

// resultRow names every column Table[Column], in column order; BLANKs only with includeNulls.
func (t *tableSnapshot) resultRow(raw []byte, includeNulls bool) orderedRow {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m) // stored rows are valid JSON objects
	row := make(orderedRow, 0, len(t.columns))
	for _, c := range t.columns {
		v, ok := m[c.Name]
		if !ok || string(v) == "null" {
			if !includeNulls {
				continue
			}
			v = json.RawMessage("null")
		}
		row = append(row, keyValue{t.name + "[" + c.Name + "]", v})
	}
	return row
}

// ordered returns the top N rows by the order column, ties at the N-th row included.
func (t *tableSnapshot) ordered(tn *daxTopN) [][]byte {
	col := columnIn(t.columns, tn.orderBy)
	type keyed struct {
		raw []byte
		key sortKey
	}
	all := make([]keyed, len(t.rows))
	for i, raw := range t.rows {
		all[i] = keyed{raw, newSortKey(col.DataType, rowValue(raw, col.Name))}
	}
	cmp := func(a, b keyed) int {
		c := a.key.compare(b.key)
		if !tn.ascending {
			c = -c
		}
		return c
	}
	slices.SortStableFunc(all, cmp)
	n := min(tn.n, len(all))
	for n > 0 && n < len(all) && cmp(all[n-1], all[n]) == 0 {
		n++
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = all[i].raw
	}
	return out
}

// sortKey orders values like DAX: BLANK first, then by value: integers (Int64, Boolean),
// floats (Double, Decimal), times or text (case-insensitively). A column's values share a kind.
type sortKey struct {
	blank bool
	i     int64
	f     float64
	at    time.Time
	text  string
}

func newSortKey(typ string, v json.RawMessage) sortKey {
	if string(v) == "null" {
		return sortKey{blank: true}
	}
	s := string(v)
	if s[0] == '"' {
		_ = json.Unmarshal(v, &s) // stored values are valid JSON
	}
	switch typ {
	case "Int64":
		n, _ := strconv.ParseInt(s, 10, 64)
		return sortKey{i: n}
	case "Double", "Decimal":
		f, _ := strconv.ParseFloat(s, 64)
		return sortKey{f: f}
	case "Boolean":
		if s == "true" {
			return sortKey{i: 1}
		}
		return sortKey{}
	case "DateTime":
		at, _ := parseDateTime(s)
		return sortKey{at: at}
	}
	return sortKey{text: strings.ToLower(s)}
}

func (a sortKey) compare(b sortKey) int {
	if a.blank || b.blank {
		return boolCompare(!a.blank, !b.blank)
	}
	if c := cmp.Compare(a.i, b.i); c != 0 {
		return c
	}
	if c := cmp.Compare(a.f, b.f); c != 0 {
		return c
	}
	if c := a.at.Compare(b.at); c != 0 {
		return c
	}
	return strings.Compare(a.text, b.text)
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

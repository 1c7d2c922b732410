package emulator

import (
	"encoding/json"
	"math/big"
	"slices"
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

// sortKey orders values like DAX: BLANK first, then numbers, booleans, times or text
// (text case-insensitively).
type sortKey struct {
	blank bool
	num   *big.Float
	text  string
	at    time.Time
}

func newSortKey(typ string, v json.RawMessage) sortKey {
	if string(v) == "null" {
		return sortKey{blank: true}
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	switch typ {
	case "Int64", "Double", "Decimal":
		f, _, err := big.ParseFloat(s, 10, 128, big.ToNearestEven)
		if err == nil {
			return sortKey{num: f}
		}
	case "Boolean":
		if s == "true" {
			return sortKey{num: big.NewFloat(1)}
		}
		return sortKey{num: big.NewFloat(0)}
	case "DateTime":
		if at, ok := parseDateTime(s); ok {
			return sortKey{at: at}
		}
	}
	return sortKey{text: strings.ToLower(s)}
}

func (a sortKey) compare(b sortKey) int {
	switch {
	case a.blank || b.blank:
		return boolCompare(!a.blank, !b.blank)
	case a.num != nil && b.num != nil:
		return a.num.Cmp(b.num)
	case !a.at.IsZero() || !b.at.IsZero():
		return a.at.Compare(b.at)
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

package emulator

import (
	"encoding/json"
	"testing"
)

// FuzzDAX: the DAX parser never panics, and a parsed query names at least one table.
func FuzzDAX(f *testing.F) {
	for _, q := range []string{`EVALUATE ROW("n", COUNTROWS('T'))`, `EVALUATE ROW("n", DISTINCTCOUNT('T'[C]))`,
		`EVALUATE TOPN(10, 'My ''T''', 'My ''T'''[C]], ASC)`, `evaluate row("a", countrows(T), "b", distinctcount(T[x]))`,
		`EVALUATE 'T'`, `EVALUATE ROW("n`, `EVALUATE TOPN(-1, T)`, "EVALUATE\tTOPN(1,T)\n"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		p, err := parseDAX(q)
		if err != nil {
			return
		}
		if len(p.refs()) == 0 || (p.topN == nil) == (len(p.row) == 0) {
			t.Fatalf("%q parsed to %+v", q, p)
		}
		for _, ref := range p.refs() {
			if ref[0] == "" || (p.topN != nil && p.topN.order && p.topN.orderBy == "") {
				t.Fatalf("%q names an empty table or column: %+v", q, p)
			}
		}
		for _, sc := range p.row {
			if sc.fn == "DISTINCTCOUNT" && sc.column == "" {
				t.Fatalf("%q: DISTINCTCOUNT of no column", q)
			}
		}
	})
}

// FuzzConvertString: a string accepted for a typed column converts to a JSON literal that the
// same column accepts as a literal.
func FuzzConvertString(f *testing.F) {
	for _, s := range []string{"123", " -7 ", "+5", "1.5", "-2e3", "true", "FALSE", "1e400", "NaN", "0x10", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, typ := range []string{"Int64", "Double", "Decimal", "Boolean"} {
			reason, conv := convertString(typ, s)
			if (reason == "") != (conv != nil) {
				t.Fatalf("%s %q: reason %q conv %q", typ, s, reason, conv)
			}
			if conv == nil {
				continue
			}
			if !json.Valid(conv) || checkLiteral(typ, string(conv)) != "" {
				t.Fatalf("%s %q converted to %s, which the column refuses", typ, s, conv)
			}
		}
	})
}

// FuzzScanValue: the key scan of stored rows agrees with encoding/json on every JSON object.
func FuzzScanValue(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":"x"}`, `{ "a" : [1,{"b":"}"}] , "b" : null }`, `{"a\"":1,"a":2}`,
		`{"a":1,"a":2}`, `{}`, `{"s":"a\\\"b","n":-1.5e3,"t":true}`} {
		f.Add(s, "a")
	}
	f.Fuzz(func(t *testing.T, raw, key string) {
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(raw), &m) != nil || m == nil {
			return // stored rows are always JSON objects
		}
		want := m[key]
		if want == nil {
			want = json.RawMessage("null")
		}
		if got := rowValue([]byte(raw), key); string(got) != string(want) {
			t.Fatalf("rowValue(%s, %q) = %s, want %s", raw, key, got, want)
		}
	})
}

package schema

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		table config.Table
		want  string
	}{
		{"bad type", config.Table{Name: "T", Columns: []config.Column{{Name: "a", Type: "Strng"}}},
			`table "T": table.columns[0].type: unknown type "Strng"`},
		{"bad name", config.Table{Name: "a.b", Columns: []config.Column{{Name: "a", Type: "string"}}},
			`table "a.b": table.name: table name "a.b" contains '.'`},
		{"no columns", config.Table{Name: "T"}, "table.columns: at least one column is required"},
		{"bad default", config.Table{Name: "T", Columns: []config.Column{{Name: "n", Type: "int64", Default: "x"}}},
			`table "T": column "n": default: "x" is not a number`},
		{"layout on string", config.Table{Name: "T", Columns: []config.Column{{Name: "s", Type: "string", Layout: "2006"}}},
			"table.columns[0].layout: only allowed on a DateTime column (this one is String)"},
	}
	for _, tc := range tests {
		_, err := Compile(tc.table)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestDef(t *testing.T) {
	tb := mustCompile(t, config.Table{Name: "T", Columns: []config.Column{
		{Name: "a", Type: "int64"}, {Name: "b", Type: "bool"}, {Name: "c", Type: "datetime"},
		{Name: "d", Type: "STRING"}, {Name: "e", Type: "double"}, {Name: "f", Type: "Decimal"},
	}})
	got, _ := json.Marshal(tb.Def())
	want := `{"name":"T","columns":[{"name":"a","dataType":"Int64"},{"name":"b","dataType":"Boolean"},` +
		`{"name":"c","dataType":"DateTime"},{"name":"d","dataType":"String"},{"name":"e","dataType":"Double"},` +
		`{"name":"f","dataType":"Decimal"}]}`
	if string(got) != want || tb.Name() != "T" {
		t.Errorf("Def = %s", got)
	}
}

func TestCoerceRules(t *testing.T) {
	long := strings.Repeat("x", 3999)
	tests := []struct {
		name string
		col  config.Column
		long string // on_long_string
		in   any
		want string // JSON value, or "error: ..." substring
	}{
		{"int from csv", config.Column{Type: "int64"}, "", "  -7 ", "-7"},
		{"int exp", config.Column{Type: "int64"}, "", json.Number("4.2e1"), "42"},
		{"int from yaml float", config.Column{Type: "int64"}, "", 3.0, "3"},
		{"double from csv", config.Column{Type: "double"}, "", "1e3", "1000"},
		{"double inf string", config.Column{Type: "double"}, "", "Inf", "error: is not a number"},
		{"double bool", config.Column{Type: "double"}, "", true, "error: cannot use true as a number"},
		{"decimal round half up", config.Column{Type: "decimal"}, "", "0.00005", "0.0001"},
		{"decimal round negative", config.Column{Type: "decimal"}, "", "-1.23455", "-1.2346"},
		{"bool word", config.Column{Type: "bool"}, "", "TRUE", "true"},
		{"bool number", config.Column{Type: "bool"}, "", json.Number("0"), "false"},
		{"string from number", config.Column{Type: "string"}, "", json.Number("1.50"), `"1.50"`},
		{"string from bool", config.Column{Type: "string"}, "", false, `"false"`},
		{"string empty kept", config.Column{Type: "string"}, "", "", `""`},
		{"string 4000 with emoji", config.Column{Type: "string"}, "", long + "é", `"` + long + `é"`},
		{"string too long", config.Column{Type: "string"}, "", long + "😀", "error: string of 4001 characters exceeds"},
		{"string truncate surrogate", config.Column{Type: "string"}, "truncate", long + "😀", `"` + long + `"`},
		{"string truncate", config.Column{Type: "string"}, "truncate", long + "ab", `"` + long + `a"`},
		{"dt zone", config.Column{Type: "datetime"}, "", "2024-01-01T00:00:00-05:00", `"2024-01-01T05:00:00.000Z"`},
		{"dt no colon zone", config.Column{Type: "datetime"}, "", "2024-01-01T00:00:00.5+0100", `"2023-12-31T23:00:00.500Z"`},
		{"dt space", config.Column{Type: "datetime"}, "", "2024-01-01 08:09:10.123456", `"2024-01-01T08:09:10.123Z"`},
		{"dt unix s", config.Column{Type: "datetime", Unix: "s"}, "", json.Number("1.5"), `"1970-01-01T00:00:01.500Z"`},
		{"dt unix us", config.Column{Type: "datetime", Unix: "us"}, "", "1000", `"1970-01-01T00:00:00.001Z"`},
		{"dt unix ns", config.Column{Type: "datetime", Unix: "ns"}, "", json.Number("-1000000"), `"1969-12-31T23:59:59.999Z"`},
		{"dt layout", config.Column{Type: "datetime", Layout: "Jan 2 2006 3PM MST"}, "", "Feb 3 2024 4PM UTC", `"2024-02-03T16:00:00.000Z"`},
		{"dt default", config.Column{Type: "datetime", Default: "2000-01-01"}, "", nil, `"2000-01-01T00:00:00.000Z"`},
		{"dt object", config.Column{Type: "datetime"}, "", map[string]any{}, "error: cannot use an object as DateTime"},
		{"missing omitted", config.Column{Type: "int64"}, "", nil, ""},
		{"empty csv omitted", config.Column{Type: "int64"}, "", "", ""},
		{"int default", config.Column{Type: "int64", Default: 5}, "", "", "5"},
	}
	for _, tc := range tests {
		tc.col.Name = "c"
		tb := mustCompile(t, config.Table{Name: "T", Columns: []config.Column{tc.col}, OnLongString: tc.long})
		got, err := tb.Coerce(map[string]any{"c": tc.in}, time.Time{})
		if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Column != "c" || !strings.Contains(fe.Reason, want) {
				t.Errorf("%s: err = %v, want FieldError %q", tc.name, err, want)
			}
			continue
		}
		if tc.want == "" { // the only column omitted: the row would be {}, which is never sent
			if !errors.Is(err, ErrNoValues) {
				t.Errorf("%s: got %s, %v; want ErrNoValues", tc.name, got, err)
			}
			continue
		}
		want := `{"c":` + tc.want + `}`
		if err != nil || string(got) != want {
			t.Errorf("%s: got %s, %v; want %s", tc.name, got, err, want)
		}
	}
}

func TestFrom(t *testing.T) {
	tb := mustCompile(t, config.Table{Name: "T", UnknownFields: "reject", Columns: []config.Column{
		{Name: "dotted", Type: "string", From: "a.b.1"},
		{Name: "literal", Type: "string", From: "x.y"},
		{Name: "ptr", Type: "string", From: "/p~1q/r~0s"},
		{Name: "plain", Type: "string"},
	}})
	rec := map[string]any{
		"a":     map[string]any{"b": []any{"zero", "one"}},
		"x.y":   "literal wins",
		"x":     map[string]any{"y": "nested"},
		"p/q":   map[string]any{"r~s": "pointer"},
		"plain": "p",
	}
	got, err := tb.Coerce(rec, time.Time{})
	want := `{"dotted":"one","literal":"literal wins","ptr":"pointer","plain":"p"}`
	if err != nil || string(got) != want {
		t.Errorf("got %s, %v; want %s", got, err, want)
	}
	rec["zz"], rec["extra"] = 1, 2
	_, err = tb.Coerce(rec, time.Time{})
	if err == nil || err.Error() != "column extra: unknown field (2 unknown; unknown_fields: reject)" {
		t.Errorf("reject unknown: %v", err)
	}
}

func TestUnknownIgnoredConcurrent(t *testing.T) {
	tb := mustCompile(t, config.Table{Name: "T", Columns: []config.Column{{Name: "a", Type: "string"}}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := tb.Coerce(map[string]any{"a": "x", "b": 1, "c": 2}, time.Time{}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := tb.UnknownIgnored(); got != 8*100*2 {
		t.Errorf("UnknownIgnored = %d, want 1600", got)
	}
}

func TestKeyOrder(t *testing.T) {
	tests := map[string]string{
		`{"b":1,"a":{"z":1,"y":2},"c":[1,{"d":2}]}`: "b,a,c",
		`[1,2]`:            "",
		`{"a":1,`:          "a",
		`not json`:         "",
		`{}`:               "",
		`{"x":"}","y":[]}`: "x,y",
	}
	for in, want := range tests {
		if got := strings.Join(KeyOrder([]byte(in)), ","); got != want {
			t.Errorf("KeyOrder(%s) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCoerce(f *testing.F) {
	for _, s := range []string{`{"i":1,"d":"2024-01-01T00:00:00Z","s":"x","b":true,"f":1.5,"m":"1.23456"}`,
		`{"i":"9223372036854775807"}`, `{"i":"1e9999"}`, `{"u":"1e4000"}`, `{"n":{"x":[1,2]}}`,
		`{"s":{"a":"b"},"d":"2024-01-01 00:00","u":-1.5}`, `{"f":"-0"}`, `{"m":"-0.00001"}`} {
		f.Add([]byte(s))
	}
	tb, err := Compile(config.Table{Name: "T", Columns: []config.Column{
		{Name: "i", Type: "int64", Required: true, Default: 0}, {Name: "f", Type: "double"},
		{Name: "m", Type: "decimal"}, {Name: "b", Type: "bool"}, {Name: "d", Type: "datetime"},
		{Name: "u", Type: "datetime", Unix: "ms"}, {Name: "s", Type: "string"},
		{Name: "x", Type: "string", From: "n.x.1"}, {Name: "ts", Type: "datetime", Timestamp: "ingest"},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		var rec map[string]any
		if dec.Decode(&rec) != nil {
			return
		}
		row, err := tb.Coerce(rec, time.Unix(0, 0))
		if err != nil {
			// A record that no column reads (or whose matched fields are all empty) is refused as
			// a whole, never turned into a row of defaults.
			if errors.Is(err, ErrNoFieldMatched) || errors.Is(err, ErrNoValues) {
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FieldError: %v", err)
			}
			return
		}
		var out map[string]any
		if err := json.Unmarshal(row, &out); err != nil {
			t.Fatalf("invalid row %s: %v", row, err)
		}
		if _, ok := out["i"]; !ok || out["ts"] != "1970-01-01T00:00:00.000Z" {
			t.Fatalf("row lacks required or ingest column: %s", row)
		}
	})
}

// TestCaseOnlyMatches: a field that differs from a column's field only in case is read by it when
// the exact field is absent; two such fields for one column refuse the record (reading either would
// depend on map order), every time, whatever the order of the keys.
func TestCaseOnlyMatches(t *testing.T) {
	tb := mustCompile(t, config.Table{Name: "T", Columns: []config.Column{{Name: "Name", Type: "string"}, {Name: "n", Type: "int64"}}})
	tests := []struct {
		name string
		rec  map[string]any
		want string // row, or "error: ..." substring
	}{
		{"exact", map[string]any{"Name": "a", "n": json.Number("1")}, `{"Name":"a","n":1}`},
		{"case only", map[string]any{"NAME": "a", "n": json.Number("1")}, `{"Name":"a","n":1}`},
		{"exact wins over case", map[string]any{"Name": "a", "name": "b", "n": json.Number("1")}, `{"Name":"a","n":1}`},
		{"two by case", map[string]any{"name": "a", "NAME": "b", "n": json.Number("1")}, `error: fields "NAME" and "name" both match "Name" only by case`},
	}
	for _, tc := range tests {
		for range 20 { // map order varies between iterations
			got, err := tb.Coerce(tc.rec, time.Time{})
			if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
				var fe *FieldError
				if !errors.As(err, &fe) || !strings.Contains(fe.Reason, want) {
					t.Fatalf("%s: got %s, %v; want FieldError %q", tc.name, got, err, want)
				}
				continue
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("%s: got %s, %v; want %s", tc.name, got, err, tc.want)
			}
		}
	}
}

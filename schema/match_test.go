package schema

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

func matchTable(t *testing.T) *Table {
	t.Helper()
	return mustCompile(t, config.Table{Name: "T", Columns: []config.Column{
		{Name: "Device", Type: "String"},
		{Name: "Value", Type: "Double", Default: 0},
		{Name: "At", Type: "DateTime", Timestamp: "ingest"},
		{Name: "Site", Type: "String", From: "loc.site"},
	}})
}

func TestCoerceFieldMatching(t *testing.T) {
	tb := matchTable(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		rec  map[string]any
		want string // row, or "error: ..." for an errors.Is target
	}{
		{"exact", map[string]any{"Device": "d", "Value": "1"}, `{"Device":"d","Value":1,"At":"2026-01-02T03:04:05.000Z"}`},
		{"case only", map[string]any{"device": "d", "VALUE": "2"}, `{"Device":"d","Value":2,"At":"2026-01-02T03:04:05.000Z"}`},
		{"exact wins over case", map[string]any{"Device": "d", "device": "x"}, `{"Device":"d","Value":0,"At":"2026-01-02T03:04:05.000Z"}`},
		{"no field matched, defaults not used", map[string]any{"foo": "1", "bar": "2"}, "error: nomatch"},
		{"empty record", map[string]any{}, "error: nomatch"},
		{"nested path top key", map[string]any{"loc": map[string]any{"site": "s"}}, `{"Value":0,"At":"2026-01-02T03:04:05.000Z","Site":"s"}`},
	}
	for _, tc := range tests {
		got, err := tb.Coerce(tc.rec, now)
		if tc.want == "error: nomatch" {
			if !errors.Is(err, ErrNoFieldMatched) || got != nil {
				t.Errorf("%s: got %s, %v; want ErrNoFieldMatched", tc.name, got, err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.name, got, err, tc.want)
		}
	}
}

func TestCoerceNeverEmptyRow(t *testing.T) {
	tb := mustCompile(t, config.Table{Name: "T", Columns: []config.Column{{Name: "a", Type: "Int64"}, {Name: "b", Type: "Int64"}}})
	if got, err := tb.Coerce(map[string]any{"a": "", "b": ""}, time.Time{}); !errors.Is(err, ErrNoValues) {
		t.Fatalf("all-empty CSV row: got %s, %v; want ErrNoValues", got, err)
	}
}

func TestCaseFoldAmbiguousColumnsMatchExactlyOnly(t *testing.T) {
	tb := mustCompile(t, config.Table{Name: "T", Columns: []config.Column{{Name: "a", Type: "String"}, {Name: "A", Type: "String"}}})
	if _, err := tb.Coerce(map[string]any{"a": "x"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	m := tb.MatchFields([]string{"A", "a"})
	if len(m.Mapped) != 2 || len(m.CaseOnly) != 0 {
		t.Fatalf("match %+v", m)
	}
}

func TestMatchFields(t *testing.T) {
	tb := matchTable(t)
	tests := []struct {
		name                       string
		fields                     []string
		none, partial              bool
		unmapped, unfilled, folded []string
	}{
		{"none", []string{"foo", "bar"}, true, false, []string{"foo", "bar"}, []string{"Device", "Value", "Site"}, nil},
		{"full", []string{"Device", "Value", "loc"}, false, false, nil, nil, nil},
		{"case only", []string{"device", "value", "LOC"}, false, false, nil, nil, []string{"LOC", "device", "value"}},
		{"partial", []string{"Device", "extra"}, false, true, []string{"extra"}, []string{"Value", "Site"}, nil},
		{"dotted header", []string{"loc.site"}, false, true, nil, []string{"Device", "Value"}, nil},
	}
	for _, tc := range tests {
		m := tb.MatchFields(tc.fields)
		var folded []string
		for f := range m.CaseOnly {
			folded = append(folded, f)
		}
		slices.Sort(folded)
		if m.None() != tc.none || m.Partial() != tc.partial || !slices.Equal(m.Unmapped, tc.unmapped) ||
			!slices.Equal(m.Unfilled, tc.unfilled) || !slices.Equal(folded, tc.folded) {
			t.Errorf("%s: got %+v (none %v partial %v)", tc.name, m, m.None(), m.Partial())
		}
	}
	if got := tb.MatchFields([]string{"foo"}).Refusal("D/T"); got != "no field of the header [foo] matches a column of table D/T (columns: Device, Value, At, Site)" {
		t.Errorf("refusal: %s", got)
	}
}

package sink

import (
	"slices"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/schema"
)

func TestDiffColumns(t *testing.T) {
	want := schema.TableDef{Name: "t", Columns: []schema.ColumnDef{
		{Name: "id", DataType: "Int64"}, {Name: "ok", DataType: "Boolean"}, {Name: "at", DataType: "DateTime"}, {Name: "s", DataType: "String"}}}
	tests := []struct {
		name string
		have []schema.ColumnDef
		want []ChangeKind
	}{
		{name: "aliases and casing match", have: []schema.ColumnDef{{Name: "id", DataType: "int64"}, {Name: "ok", DataType: "bool"},
			{Name: "at", DataType: "Datetime"}, {Name: "s", DataType: "string"}}},
		{name: "order does not matter", have: []schema.ColumnDef{{Name: "s", DataType: "String"}, {Name: "at", DataType: "DateTime"},
			{Name: "ok", DataType: "Boolean"}, {Name: "id", DataType: "Int64"}}},
		{name: "add, retype, remove", have: []schema.ColumnDef{{Name: "id", DataType: "Double"}, {Name: "ok", DataType: "Boolean"},
			{Name: "at", DataType: "DateTime"}, {Name: "old", DataType: "String"}}, want: []ChangeKind{AddColumn, ChangeType, RemoveColumn}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []ChangeKind
			for _, ch := range diffColumns("d", want, tt.have) {
				got = append(got, ch.Kind)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("changes %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCanonicalType(t *testing.T) {
	for in, want := range map[string]string{"int64": "Int64", "DOUBLE": "Double", "decimal": "Decimal", "bool": "Boolean",
		"Boolean": "Boolean", "dateTime": "DateTime", " string ": "String", "Weird": "Weird"} {
		if got := canonicalType(in); got != want {
			t.Errorf("canonicalType(%q) = %q, want %q", in, got, want)
		}
	}
}

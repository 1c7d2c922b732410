package sink

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
)

func TestPlanAndApply(t *testing.T) {
	base := cols("id", "Int64", "name", "String")
	tests := []struct {
		name       string
		existing   bool // dataset "sales" exists with orders(base)
		configured config.Dataset
		wantPlan   []Change
		// outcomes of Apply without, then with -allow-destructive
		refusedSafe, refusedForced bool
		wantColumns                []string // orders after both applies
	}{
		{name: "missing dataset", configured: ds("sales", "orders", base),
			wantPlan:    []Change{{Kind: CreateDataset, Dataset: "sales"}},
			wantColumns: []string{"id:Int64", "name:String"}},
		{name: "in sync", existing: true, configured: ds("sales", "orders", base),
			wantColumns: []string{"id:Int64", "name:String"}},
		{name: "new column", existing: true, configured: ds("sales", "orders", cols("id", "Int64", "name", "String", "at", "DateTime")),
			wantPlan:    []Change{{Kind: AddColumn, Dataset: "sales", Table: "orders", Column: "at", To: "DateTime"}},
			wantColumns: []string{"id:Int64", "name:String", "at:DateTime"}},
		{name: "type change", existing: true, configured: ds("sales", "orders", cols("id", "Double", "name", "String")),
			wantPlan:    []Change{{Kind: ChangeType, Dataset: "sales", Table: "orders", Column: "id", From: "Int64", To: "Double"}},
			refusedSafe: true, wantColumns: []string{"id:Double", "name:String"}},
		{name: "removed column", existing: true, configured: ds("sales", "orders", cols("name", "String")),
			wantPlan:    []Change{{Kind: RemoveColumn, Dataset: "sales", Table: "orders", Column: "id", From: "Int64"}},
			refusedSafe: true, wantColumns: []string{"name:String"}},
		{name: "missing table", existing: true, configured: config.Dataset{Name: "sales", Tables: []config.Table{
			{Name: "orders", Columns: base}, {Name: "returns", Columns: base}}},
			wantPlan:    []Change{{Kind: MissingTable, Dataset: "sales", Table: "returns"}},
			refusedSafe: true, refusedForced: true, wantColumns: []string{"id:Int64", "name:String"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := emu(t)
			if tt.existing {
				emuCreate(t, e, ds("sales", "orders", base), "Push")
			}
			c := emuClient(t, e, emuConfig(e, tt.configured), nil)
			plan, err := c.Plan(ctx(t))
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if !slices.Equal(plan, tt.wantPlan) {
				t.Fatalf("Plan = %v, want %v", plan, tt.wantPlan)
			}
			if n := len(e.Server.Stats().Datasets); n != btoi(tt.existing) {
				t.Fatalf("Plan changed the service: %d datasets", n)
			}
			checkApply(t, c.Apply(ctx(t), plan, false), tt.refusedSafe)
			checkApply(t, c.Apply(ctx(t), plan, true), tt.refusedForced)
			if got := emuColumns(t, e, onlyDataset(t, e, "sales").ID, "orders"); !slices.Equal(got, tt.wantColumns) {
				t.Errorf("columns after apply %v, want %v", got, tt.wantColumns)
			}
			if again, err := c.Plan(ctx(t)); err != nil || (!tt.refusedForced && len(again) != 0) {
				t.Errorf("Plan after apply = %v, %v; want no changes", again, err)
			}
		})
	}
}

func checkApply(t *testing.T, err error, refused bool) {
	t.Helper()
	if refused != errors.Is(err, ErrSchemaRefused) || (!refused && err != nil) {
		t.Fatalf("Apply = %v, want refused=%v", err, refused)
	}
	if refused && !strings.Contains(err.Error(), "schema") && !strings.Contains(err.Error(), "new dataset") {
		t.Errorf("refusal %q explains nothing", err)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestApplyRefusesUnknownDataset(t *testing.T) {
	e := emu(t)
	c := emuClient(t, e, emuConfig(e, ds("sales", "orders", cols("id", "Int64"))), nil)
	err := c.Apply(ctx(t), []Change{{Kind: CreateDataset, Dataset: "other"}}, true)
	if err == nil || !strings.Contains(err.Error(), `"other"`) || len(e.Server.Stats().Datasets) != 0 {
		t.Fatalf("Apply of an unconfigured dataset = %v, want an error and nothing created", err)
	}
}

func TestChangeStringAndDestructive(t *testing.T) {
	tests := []struct {
		ch          Change
		destructive bool
		want        string
	}{
		{Change{Kind: CreateDataset, Dataset: "s"}, false, `+ dataset "s": create`},
		{Change{Kind: AddColumn, Dataset: "s", Table: "t", Column: "c", To: "Int64"}, false, `+ "s"/"t": add column "c" Int64`},
		{Change{Kind: ChangeType, Dataset: "s", Table: "t", Column: "c", From: "Int64", To: "String"}, true, `column "c" type Int64 -> String`},
		{Change{Kind: RemoveColumn, Dataset: "s", Table: "t", Column: "c", From: "Int64"}, true, `- "s"/"t": remove column "c"`},
		{Change{Kind: MissingTable, Dataset: "s", Table: "t"}, true, "cannot be added"},
	}
	for _, tt := range tests {
		t.Run(string(tt.ch.Kind), func(t *testing.T) {
			if tt.ch.Destructive() != tt.destructive || !strings.Contains(tt.ch.String(), tt.want) {
				t.Errorf("%v: Destructive %v String %q, want %v and %q", tt.ch.Kind, tt.ch.Destructive(), tt.ch.String(), tt.destructive, tt.want)
			}
		})
	}
}

// TestApplyAdditiveOnly: without -allow-destructive, apply adds the new columns of a table that
// also has destructive changes, keeps the retyped and removed columns as the service has them,
// and refuses the destructive changes; the next plan lists only those.
func TestApplyAdditiveOnly(t *testing.T) {
	e := emu(t)
	emuCreate(t, e, ds("sales", "orders", cols("id", "Int64", "name", "String", "old", "Double")), "Push")
	c := emuClient(t, e, emuConfig(e, ds("sales", "orders", cols("id", "String", "name", "String", "qty", "Double"))), nil)
	plan, err := c.Plan(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	checkApply(t, c.Apply(ctx(t), plan, false), true)
	id := onlyDataset(t, e, "sales").ID
	if got, want := emuColumns(t, e, id, "orders"), []string{"id:Int64", "name:String", "qty:Double", "old:Double"}; !slices.Equal(got, want) {
		t.Errorf("columns after additive apply %v, want %v", got, want)
	}
	again, err := c.Plan(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range again {
		if !ch.Destructive() {
			t.Errorf("additive change left after apply: %v", ch)
		}
	}
	if len(again) != 2 {
		t.Errorf("plan after additive apply = %v, want the type change and the removal", again)
	}
	checkApply(t, c.Apply(ctx(t), again, true), false)
	if got, want := emuColumns(t, e, id, "orders"), []string{"id:String", "name:String", "qty:Double"}; !slices.Equal(got, want) {
		t.Errorf("columns after forced apply %v, want %v", got, want)
	}
}

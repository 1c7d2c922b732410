package sink

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

func TestPrepareCreatesRemembersAndResolves(t *testing.T) {
	tests := []struct {
		name, mode, retention   string
		wantMode, wantRetention string
	}{
		{name: "defaults", wantMode: "Push", wantRetention: "None"},
		{name: "push streaming fifo", mode: "pushstreaming", retention: "basicfifo", wantMode: "PushStreaming", wantRetention: "basicFIFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := emu(t)
			d := ds("sales", "orders", cols("id", "int64", "ok", "bool", "at", "datetime"))
			d.Mode, d.Retention = tt.mode, tt.retention
			store := newMemStore()
			if err := emuClient(t, e, emuConfig(e, d), store).Prepare(ctx(t)); err != nil {
				t.Fatalf("first Prepare: %v", err)
			}
			got := onlyDataset(t, e, "sales")
			if got.DefaultMode != tt.wantMode || got.Retention != tt.wantRetention || got.Workspace != testWorkspace {
				t.Errorf("created mode %q retention %q workspace %q, want %q %q %q", got.DefaultMode, got.Retention,
					got.Workspace, tt.wantMode, tt.wantRetention, testWorkspace)
			}
			if want := []string{"id:Int64", "ok:Boolean", "at:DateTime"}; !slices.Equal(emuColumns(t, e, got.ID, "orders"), want) {
				t.Errorf("columns %v, want %v", emuColumns(t, e, got.ID, "orders"), want)
			}
			if id, _ := store.Meta("dataset/sales/id"); string(id) != got.ID {
				t.Errorf("remembered id %q, want %q", id, got.ID)
			}
			for _, st := range []MetaStore{store, nil} { // by remembered id, then by name
				c := emuClient(t, e, emuConfig(e, d), st)
				if err := c.Prepare(ctx(t)); err != nil {
					t.Fatalf("later Prepare: %v", err)
				}
				if again := onlyDataset(t, e, "sales"); again.ID != got.ID || c.sets["sales"].getID() != got.ID {
					t.Errorf("later Prepare resolved %q, want %q", c.sets["sales"].getID(), got.ID)
				}
			}
		})
	}
}

func TestPrepareStaleRememberedIDFallsBackToName(t *testing.T) {
	e := emu(t)
	d := ds("sales", "orders", cols("id", "Int64"))
	id := emuCreate(t, e, d, "Push")
	store := newMemStore()
	_ = store.SetMeta("dataset/sales/id", []byte("00000000-dead-4000-8000-000000000000"))
	if err := emuClient(t, e, emuConfig(e, d), store).Prepare(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Meta("dataset/sales/id"); string(got) != id || len(e.Server.DatasetsByName("sales")) != 1 {
		t.Errorf("remembered %q with %d datasets, want %q and no new dataset", got, len(e.Server.DatasetsByName("sales")), id)
	}
}

func TestPrepareResolveRefusals(t *testing.T) {
	d := ds("sales", "orders", cols("id", "Int64"))
	tests := []struct {
		name  string
		setup func(t *testing.T, e *emulatortest.Emulator) (config.Dataset, []string) // dataset config, strings the error must name
	}{
		{name: "pinned id missing", setup: func(t *testing.T, e *emulatortest.Emulator) (config.Dataset, []string) {
			pinned := d
			pinned.ID = "00000000-0000-4000-8000-00000000beef"
			return pinned, []string{pinned.ID, "not found"}
		}},
		{name: "not a push dataset by name", setup: func(t *testing.T, e *emulatortest.Emulator) (config.Dataset, []string) {
			id := emuCreate(t, e, d, "AsAzure")
			return d, []string{id, "not a push dataset"}
		}},
		{name: "not a push dataset pinned", setup: func(t *testing.T, e *emulatortest.Emulator) (config.Dataset, []string) {
			pinned := d
			pinned.ID = emuCreate(t, e, d, "AsOnPrem")
			return pinned, []string{pinned.ID, "not a push dataset"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := emu(t)
			cfgDS, want := tt.setup(t, e)
			before := len(e.Server.Stats().Datasets)
			err := emuClient(t, e, emuConfig(e, cfgDS), newMemStore()).Prepare(ctx(t))
			if Classify(err) != Fatal {
				t.Fatalf("Prepare = %v (class %v), want fatal", err, Classify(err))
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if after := len(e.Server.Stats().Datasets); after != before {
				t.Errorf("datasets %d -> %d: a refused Prepare must not create one", before, after)
			}
		})
	}
}

func TestPrepareSchemaDifferences(t *testing.T) {
	base := cols("id", "Int64", "name", "String")
	tests := []struct {
		name        string
		configured  []config.Dataset
		wantRefused []string // substrings; nil = success
		wantColumns []string // of orders after Prepare
	}{
		{name: "in sync", configured: []config.Dataset{ds("sales", "orders", cols("id", "int64", "name", "string"))},
			wantColumns: []string{"id:Int64", "name:String"}},
		{name: "added column is PUT", configured: []config.Dataset{ds("sales", "orders", cols("id", "Int64", "name", "String", "qty", "Double"))},
			wantColumns: []string{"id:Int64", "name:String", "qty:Double"}},
		{name: "type change refused", configured: []config.Dataset{ds("sales", "orders", cols("id", "String", "name", "String"))},
			wantRefused: []string{`"id" type Int64 -> String`, "pbi-pusher schema plan"}, wantColumns: []string{"id:Int64", "name:String"}},
		{name: "removed column refused", configured: []config.Dataset{ds("sales", "orders", cols("id", "Int64"))},
			wantRefused: []string{`remove column "name"`, "-allow-destructive"}, wantColumns: []string{"id:Int64", "name:String"}},
		{name: "missing table refused", configured: []config.Dataset{{Name: "sales", Tables: []config.Table{
			{Name: "orders", Columns: base}, {Name: "returns", Columns: base}}}},
			wantRefused: []string{`"returns"`, "cannot add a table", "new dataset", "pbi-pusher schema plan"}, wantColumns: []string{"id:Int64", "name:String"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := emu(t)
			id := emuCreate(t, e, ds("sales", "orders", base), "Push")
			err := emuClient(t, e, emuConfig(e, tt.configured...), nil).Prepare(ctx(t))
			if tt.wantRefused == nil && err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if tt.wantRefused != nil && (!errors.Is(err, ErrSchemaRefused) || Classify(err) != Fatal) {
				t.Fatalf("Prepare = %v, want a fatal schema refusal", err)
			}
			for _, w := range tt.wantRefused {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal %q does not mention %q", err, w)
				}
			}
			if got := emuColumns(t, e, id, "orders"); !slices.Equal(got, tt.wantColumns) {
				t.Errorf("columns %v, want %v", got, tt.wantColumns)
			}
		})
	}
}

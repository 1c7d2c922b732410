package sink

import (
	"context"
	"fmt"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// CountRows and CountKey read the service's counts through executeQueries (the emulator's).
func TestCountRowsAndKey(t *testing.T) {
	e := emu(t)
	cols := []config.Column{{Name: "Id", Type: "Int64"}, {Name: "Name", Type: "String"}}
	d := ds("Counts", "Its", cols)
	d.Tables = append(d.Tables, config.Table{Name: "Empty", Columns: cols})
	cfg := emuConfig(e, d)
	c := emuClient(t, e, cfg, nil)
	ctx := context.Background()

	// Before the dataset exists: no rows (nothing is created by asking).
	if n, err := c.CountRows(ctx, "Counts", "Its"); err != nil || n != 0 {
		t.Fatalf("count before the dataset exists: %d, %v; want 0, nil", n, err)
	}
	if len(e.Server.DatasetsByName("Counts")) != 0 {
		t.Fatal("counting created the dataset")
	}
	rows := func(ids ...int) [][]byte {
		var out [][]byte
		for _, id := range ids {
			out = append(out, fmt.Appendf(nil, `{"Id":%d,"Name":"n%d"}`, id, id))
		}
		return out
	}
	if err := c.PostRows(ctx, "Counts", "Its", 1, rows(1, 2, 3, 4, 5)); err != nil {
		t.Fatal(err)
	}
	if err := c.PostRows(ctx, "Counts", "Its", 6, rows(4, 5, 6)); err != nil { // 4 and 5 again
		t.Fatal(err)
	}
	if n, err := c.CountRows(ctx, "Counts", "Empty"); err != nil || n != 0 {
		t.Fatalf("count of an empty table: %d, %v; want 0 (BLANK), nil", n, err)
	}
	n, err := c.CountRows(ctx, "Counts", "Its")
	if err != nil || n != 8 {
		t.Fatalf("CountRows = %d, %v; want 8", n, err)
	}
	total, distinct, err := c.CountKey(ctx, "Counts", "Its", "Id")
	if err != nil || total != 8 || distinct != 6 {
		t.Fatalf("CountKey = %d rows, %d distinct, %v; want 8, 6", total, distinct, err)
	}
	// A column that does not exist is the service's query error, classified Fatal.
	if _, _, err := c.CountKey(ctx, "Counts", "Its", "Nope"); Classify(err) != Fatal {
		t.Fatalf("unknown column: %v (class %v), want Fatal", err, Classify(err))
	}
	if _, err := c.CountRows(ctx, "Counts", "Missing"); Classify(err) != Fatal {
		t.Fatalf("unconfigured table: %v, want Fatal", err)
	}
}

// A dataset the service does not know (a pinned id that is gone) is refused: Fatal, so read-back
// falls back to the local estimate.
func TestCountRowsUnknownDataset(t *testing.T) {
	e := emu(t)
	d := ds("Gone", "T", []config.Column{{Name: "Id", Type: "Int64"}})
	d.ID = "0b0b0b0b-0000-4000-8000-00000000dead"
	c := emuClient(t, e, emuConfig(e, d), nil)
	if _, err := c.CountRows(context.Background(), "Gone", "T"); Classify(err) != Fatal {
		t.Fatalf("CountRows on a missing pinned dataset: %v (class %v), want Fatal", err, Classify(err))
	}
}

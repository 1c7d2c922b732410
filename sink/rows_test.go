package sink

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestPostRowsDeliversToEmulator(t *testing.T) {
	e := emu(t)
	d := ds("sales", "order lines #1", cols("id", "Int64", "name", "String"))
	cfg := emuConfig(e, d)
	cfg.PowerBI.SequenceNumbers = true
	c := emuClient(t, e, cfg, nil)
	// No Prepare: PostRows resolves (and here creates) the dataset itself.
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for i := range 5 {
		wg.Go(func() {
			rows := [][]byte{[]byte(fmt.Sprintf(`{"id":%d,"name":"a"}`, 2*i)), []byte(fmt.Sprintf(`{"id":%d,"name":"b"}`, 2*i+1))}
			errs <- c.PostRows(ctx(t), "sales", "order lines #1", uint64(2*i), rows)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("PostRows: %v", err)
		}
	}
	got := onlyDataset(t, e, "sales")
	if rows := e.Server.Rows(got.ID, "order lines #1"); len(rows) != 10 || got.Posts != 5 {
		t.Errorf("emulator holds %d rows from %d posts, want 10 from 5", len(rows), got.Posts)
	}
}

func TestPostRowsUnknownTableIsFatal(t *testing.T) {
	e := emu(t)
	c := emuClient(t, e, emuConfig(e, ds("sales", "orders", cols("id", "Int64"))), nil)
	for _, ref := range [][2]string{{"sales", "nope"}, {"nope", "orders"}} {
		if err := c.PostRows(ctx(t), ref[0], ref[1], 0, [][]byte{[]byte(`{"id":1}`)}); Classify(err) != Fatal {
			t.Errorf("PostRows(%s/%s) = %v, want fatal", ref[0], ref[1], err)
		}
	}
}

func TestPostRowsAfterDatasetDeleted(t *testing.T) {
	tests := []struct {
		name       string
		recreate   bool
		pinned     bool
		recreateBy bool // someone else recreated it under the same name
		wantClass  Class
		wantText   string
	}{
		{name: "recreate_missing recreates", recreate: true, wantClass: OK},
		{name: "without recreate_missing is fatal", wantClass: Fatal, wantText: "recreate_missing"},
		{name: "recreated by someone else is found by name", recreateBy: true, wantClass: OK},
		{name: "pinned id is fatal even with recreate_missing", recreate: true, pinned: true, wantClass: Fatal, wantText: "datasets[].id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := emu(t)
			d := ds("sales", "orders", cols("id", "Int64"))
			d.RecreateMissing = tt.recreate
			old := emuCreate(t, e, d, "Push")
			if tt.pinned {
				d.ID = old
			}
			store := newMemStore()
			c := emuClient(t, e, emuConfig(e, d), store)
			if err := c.Prepare(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if st, _ := emuDo(t, e, http.MethodDelete, "/datasets/"+old, nil); st != http.StatusOK {
				t.Fatalf("delete: HTTP %d", st)
			}
			if tt.recreateBy {
				emuCreate(t, e, d, "Push")
			}
			err := c.PostRows(ctx(t), "sales", "orders", 1, [][]byte{[]byte(`{"id":1}`)})
			if Classify(err) != tt.wantClass || (err != nil && !strings.Contains(err.Error(), tt.wantText)) {
				t.Fatalf("PostRows = %v (class %v), want %v mentioning %q", err, Classify(err), tt.wantClass, tt.wantText)
			}
			if tt.wantClass != OK {
				if n := len(e.Server.Stats().Datasets); n != 0 {
					t.Errorf("%d datasets exist, want none created", n)
				}
				return
			}
			now := onlyDataset(t, e, "sales")
			remembered, _ := store.Meta("dataset/sales/id")
			if now.ID == old || len(e.Server.Rows(now.ID, "orders")) != 1 || string(remembered) != now.ID {
				t.Errorf("rows went to %s (old %s, remembered %s), want the new dataset", now.ID, old, remembered)
			}
		})
	}
}

func TestConcurrentPostsAfterDeletionRecreateOnce(t *testing.T) {
	e := emu(t)
	d := ds("sales", "orders", cols("id", "Int64"))
	d.RecreateMissing = true
	c := emuClient(t, e, emuConfig(e, d), nil)
	if err := c.Prepare(ctx(t)); err != nil {
		t.Fatal(err)
	}
	old := c.sets["sales"].getID()
	if st, _ := emuDo(t, e, http.MethodDelete, "/datasets/"+old, nil); st != http.StatusOK {
		t.Fatalf("delete: HTTP %d", st)
	}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if err := c.PostRows(ctx(t), "sales", "orders", uint64(i), [][]byte{[]byte(fmt.Sprintf(`{"id":%d}`, i))}); err != nil {
				t.Errorf("PostRows: %v", err)
			}
		})
	}
	wg.Wait()
	now := onlyDataset(t, e, "sales") // exactly one recreated dataset
	if n := len(e.Server.Rows(now.ID, "orders")); n != 5 {
		t.Errorf("recreated dataset holds %d rows, want 5", n)
	}
}

package readback

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/auth"
	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
	"github.com/pbi-pusher/pbi-pusher/sink"
)

const workspace = "6f2c1c3e-0000-4000-8000-00000000000b"

// setup returns an emulator, a config with dataset (its table "T"), a sink client and a
// dispatcher (not running) for it.
func setup(t *testing.T, d config.Dataset) (*emulatortest.Emulator, *sink.Client, *batcher.Dispatcher, *config.Config) {
	t.Helper()
	e := emulatortest.Start(t, emulator.Options{Workspaces: []emulator.Workspace{{ID: workspace, Name: "rb"}}})
	cfg := &config.Config{PowerBI: config.PowerBI{APIURL: e.URL, Workspace: workspace},
		Auth: config.Auth{Method: "static_token", Token: e.Token}, Datasets: []config.Dataset{d}}
	tok, err := auth.New(cfg, auth.Options{HTTPClient: e.Client})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sink.New(sink.Options{Config: cfg, Tokens: tok, HTTPClient: e.Client})
	if err != nil {
		t.Fatal(err)
	}
	disp := batcher.NewDispatcher(batcher.Options{Dataset: d})
	return e, c, disp, cfg
}

func dataset(id string) config.Dataset {
	return config.Dataset{Name: "Sales", ID: id, Tables: []config.Table{{Name: "T", Columns: []config.Column{{Name: "v", Type: "Int64"}}}}}
}

// A table that already holds 250,000 rows at the service switches the dataset to the hourly
// POST limit as soon as the first count arrives.
func TestReadBackDecidesLargeTier(t *testing.T) {
	e, c, disp, cfg := setup(t, dataset(""))
	ctx := context.Background()
	if err := c.PostRows(ctx, "Sales", "T", 1, [][]byte{[]byte(`{"v":1}`)}); err != nil { // creates it
		t.Fatal(err)
	}
	id := e.Server.DatasetsByName("Sales")[0].ID
	if err := e.Server.Preload(id, "T", 249_999); err != nil {
		t.Fatal(err)
	}
	r := New(Options{Datasets: cfg.Datasets, Counter: c, Target: func(string) Target { return disp }})
	if disp.Usage().LargeTier {
		t.Fatal("large tier before any count")
	}
	r.Round(ctx)
	got, ok := r.Get("Sales", "T")
	if !ok || !got.Known || got.Rows != 250_000 {
		t.Fatalf("count %+v, want 250000 known", got)
	}
	if !disp.Usage().LargeTier {
		t.Error("the service holds 250,000 rows but the dispatcher is not in the large tier")
	}
}

// A service that refuses executeQueries (here: a pinned dataset id it does not know) turns
// read-back off for the dataset, logged once at WARN; the dispatcher is told the count is
// unknown (it decides from its own estimate).
func TestReadBackRefusedFallsBack(t *testing.T) {
	_, c, disp, cfg := setup(t, dataset("0b0b0b0b-0000-4000-8000-00000000dead"))
	var logs bytes.Buffer
	r := New(Options{Datasets: cfg.Datasets, Counter: c, Target: func(string) Target { return disp },
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 3 {
		r.Round(context.Background())
	}
	if got, _ := r.Get("Sales", "T"); got.Known {
		t.Fatalf("count %+v known after a refusal", got)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d WARN lines over 3 rounds, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "local estimate") {
		t.Errorf("the WARN does not say what decides instead:\n%s", logs.String())
	}
}

// The interval keeps one instance within half of the service's 120 queries per minute.
func TestReadBackInterval(t *testing.T) {
	ds := config.Dataset{Name: "Many"}
	for i := range 75 {
		ds.Tables = append(ds.Tables, config.Table{Name: "t" + string(rune('A'+i%26)) + string(rune('a'+i/26))})
	}
	r := New(Options{Datasets: []config.Dataset{ds}, Interval: time.Second})
	if got := r.Interval(); got < 75*time.Second {
		t.Errorf("interval %v for 75 tables: more than 60 queries per minute", got)
	}
	if got := New(Options{}).Interval(); got != DefaultInterval {
		t.Errorf("default interval %v, want %v", got, DefaultInterval)
	}
}

// countingCounter counts the queries it answers.
type countingCounter struct {
	Counter
	n atomic.Int64
}

func (c *countingCounter) CountRows(ctx context.Context, dataset, table string) (int64, error) {
	c.n.Add(1)
	return c.Counter.CountRows(ctx, dataset, table)
}

func (c *countingCounter) queries() int64 { return c.n.Load() }

// A dispatcher that starts after the first round (its dataset resolved later) gets the stored
// count within a hand-off, without a new query and without waiting for the next round.
func TestReadBackHandsCountToLateDispatcher(t *testing.T) {
	e, c, disp, cfg := setup(t, dataset(""))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.PostRows(ctx, "Sales", "T", 1, [][]byte{[]byte(`{"v":1}`)}); err != nil {
		t.Fatal(err)
	}
	id := e.Server.DatasetsByName("Sales")[0].ID
	if err := e.Server.Preload(id, "T", 249_999); err != nil {
		t.Fatal(err)
	}
	cc := &countingCounter{Counter: c}
	ready := make(chan struct{})
	target := func(string) Target {
		select {
		case <-ready:
			return disp
		default:
			return nil
		}
	}
	r := New(Options{Datasets: cfg.Datasets, Counter: cc, Target: target, Interval: time.Hour})
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	for cc.queries() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if disp.Usage().LargeTier {
		t.Fatal("large tier before the dispatcher was reachable")
	}
	close(ready)
	deadline := time.Now().Add(5 * time.Second)
	for !disp.Usage().LargeTier {
		if time.Now().After(deadline) {
			t.Fatal("the late dispatcher never got the stored count")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if n := cc.queries(); n != 1 {
		t.Fatalf("%d queries, want 1 (the hand-off must not query again)", n)
	}
}

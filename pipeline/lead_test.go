package pipeline

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// The lead: max_lead of this instance's share of the dataset's rate, at most max_lead_rows, at
// least two full POSTs; Wait holds a source while the table's spooled rows reach it.
func TestLeadGate(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	ds := config.Dataset{Name: "D", Limits: config.Limits{RowsPerPost: 100, PostsPerMinute: 60, RowsPerHour: 1_000_000,
		PendingPosts: 5, PostsPerHourLarge: 120, LargeTableRows: 250_000}, Tables: []config.Table{{Name: "t"}}}
	cfg := &config.Config{Datasets: []config.Dataset{ds}}
	p := &Pipeline{cfg: cfg, Spool: sp, dispatchers: map[string]*batcher.Dispatcher{}}
	tests := []struct {
		name  string
		lead  time.Duration
		rows  int
		share float64 // < 0: no dispatcher
		want  int
	}{
		// 60 POSTs of 100 rows a minute = 360,000 rows/h (below rows_per_hour).
		{"a minute alone", time.Minute, 100_000, -1, 6000},
		{"a minute at half", time.Minute, 100_000, 0.5, 3000},
		{"capped by max_lead_rows", 10 * time.Minute, 5000, 1, 5000},
		{"never below two POSTs", time.Second, 100_000, 0.01, 200},
		{"share 0 still two POSTs", time.Minute, 100_000, 0, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			delete(p.dispatchers, "D")
			if tc.share >= 0 {
				d := batcher.NewDispatcher(batcher.Options{Dataset: ds})
				d.SetShare(tc.share)
				p.dispatchers["D"] = d
			}
			g, err := p.LeadGate(config.Source{Table: "D/t", MaxLead: config.Duration(tc.lead), MaxLeadRows: tc.rows})
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Allowed(); got != tc.want {
				t.Errorf("Allowed() = %d, want %d", got, tc.want)
			}
		})
	}

	// Wait returns at once under the lead and holds at it until ctx ends.
	delete(p.dispatchers, "D")
	g, err := p.LeadGate(config.Source{Table: "D/t", MaxLead: config.Duration(time.Second), MaxLeadRows: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("Wait on an empty spool: %v", err)
	}
	rows := make([][]byte, 200) // the lead: two full POSTs
	for i := range rows {
		rows[i] = []byte(`{"v":1}`)
	}
	if err := sp.Append(context.Background(), spool.Write{Queue: spool.QueueKey{Dataset: "D", Table: "t"}, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx); err == nil {
		t.Fatal("Wait returned with the lead reached")
	}
}

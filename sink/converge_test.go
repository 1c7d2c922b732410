package sink

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowList is a real HTTP transport to the emulator that answers the datasets listing late
// (a slow service, so that instances started close together all list before any creates) and
// counts dataset creations.
type slowList struct {
	next      http.RoundTripper
	listDelay time.Duration
	creates   *atomic.Int64
}

func (s slowList) RoundTrip(r *http.Request) (*http.Response, error) {
	isDatasets := strings.HasSuffix(r.URL.Path, "/datasets")
	if isDatasets && r.Method == http.MethodPost {
		s.creates.Add(1)
	}
	resp, err := s.next.RoundTrip(r)
	if isDatasets && r.Method == http.MethodGet {
		select {
		case <-time.After(s.listDelay):
		case <-r.Context().Done():
		}
	}
	return resp, err
}

// lockedBuf collects log output of concurrent clients.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Instances started together with the same config (each its own client and connections, as
// separate processes) converge on one dataset: all resolve the same id, the emulator holds
// exactly one dataset of the name, and every instance's row lands in it.
func TestConcurrentInstancesConvergeOnOneDataset(t *testing.T) {
	const settle, listDelay = 100 * time.Millisecond, 50 * time.Millisecond
	ms := time.Millisecond
	tests := []struct {
		name       string
		skews      []time.Duration // start offset of each instance
		minCreates int64           // creates that must have raced (so the test can fail without convergence)
	}{
		{name: "2 at once", skews: []time.Duration{0, 0}, minCreates: 2},
		{name: "4 at once", skews: []time.Duration{0, 0, 0, 0}, minCreates: 4},
		{name: "4 skewed within the listing", skews: []time.Duration{0, 10 * ms, 20 * ms, 35 * ms}, minCreates: 4},
		// the later two find a dataset while the second is being created: they settle too
		{name: "4 finders during a create", skews: []time.Duration{0, 20 * ms, 60 * ms, 90 * ms}, minCreates: 2},
		{name: "4 two waves", skews: []time.Duration{0, 0, 700 * ms, 700 * ms}, minCreates: 2},
		{name: "8 at once", skews: []time.Duration{0, 0, 0, 0, 0, 0, 0, 0}, minCreates: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := emu(t)
			cfg := emuConfig(e, ds("sales", "orders", cols("id", "Int64")))
			var creates atomic.Int64
			var logs lockedBuf
			ids := make([]string, len(tt.skews))
			errs := make([]error, len(tt.skews))
			var wg sync.WaitGroup
			for i, skew := range tt.skews {
				base, _ := e.Client.Transport.(*http.Transport)
				if base == nil {
					base = http.DefaultTransport.(*http.Transport)
				}
				hc := &http.Client{Transport: slowList{next: base.Clone(), listDelay: listDelay, creates: &creates}}
				c, err := New(Options{Config: cfg, Tokens: &countingTokens{tokens: []string{e.Token}}, HTTPClient: hc,
					CreateSettle: settle, Logger: slog.New(slog.NewTextHandler(&logs, nil)).With("instance", i)})
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					time.Sleep(skew)
					if i%2 == 0 { // as the pipeline: prepare first; odd ones resolve from their first POST
						if errs[i] = c.Prepare(ctx(t)); errs[i] != nil {
							return
						}
					}
					errs[i] = c.PostRows(ctx(t), "sales", "orders", uint64(i+1), [][]byte{fmt.Appendf(nil, `{"id":%d}`, i)})
					ids[i] = c.DatasetID("sales")
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("instance %d: %v", i, err)
				}
			}
			got := onlyDataset(t, e, "sales") // exactly one dataset of the name
			for i, id := range ids {
				if id != got.ID {
					t.Errorf("instance %d resolved %q, want the one dataset %q", i, id, got.ID)
				}
			}
			if got.Rows != int64(len(tt.skews)) {
				t.Errorf("the dataset holds %d rows, want %d (one per instance)", got.Rows, len(tt.skews))
			}
			if n := creates.Load(); n < tt.minCreates || n > int64(len(tt.skews)) {
				t.Errorf("%d datasets created, want %d..%d (instances must have raced)", n, tt.minCreates, len(tt.skews))
			}
			// instances that all raced saw no duplicate when they listed first: no WARN (a later
			// one may list duplicates not yet deleted, which it reports)
			if tt.minCreates == int64(len(tt.skews)) && strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("converging logged a WARN:\n%s", logs.String())
			}
		})
	}
}

// An existing name shared by several datasets resolves to the smallest id, whatever the
// service's listing order, with one WARN naming the ids however often it is resolved.
func TestDuplicateNamesResolveToSmallestIDWarnOnce(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := emu(t)
			d := ds("sales", "orders", cols("id", "Int64"))
			var created []string
			for range n {
				created = append(created, emuCreate(t, e, d, "Push"))
			}
			want := created[0]
			for _, id := range created {
				want = min(want, id)
			}
			var logs lockedBuf
			c, err := New(Options{Config: emuConfig(e, d), Tokens: &countingTokens{tokens: []string{e.Token}},
				HTTPClient: e.Client, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Plan(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if err := c.Prepare(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if got := c.DatasetID("sales"); got != want {
				t.Errorf("resolved %q, want the smallest id %q of %v", got, want, created)
			}
			if k := len(e.Server.DatasetsByName("sales")); k != n {
				t.Errorf("%d datasets after resolving, want the %d existing ones untouched", k, n)
			}
			out := logs.String()
			if k := strings.Count(out, "level=WARN"); k != 1 {
				t.Errorf("%d WARNs, want 1:\n%s", k, out)
			}
			for _, id := range created {
				if !strings.Contains(out, id) {
					t.Errorf("the WARN does not name %s:\n%s", id, out)
				}
			}
		})
	}
}

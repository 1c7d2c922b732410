package admin

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
)

const testConfig = `
auth:
  token: t
datasets:
  - name: Telemetry
    tables:
      - name: Readings
        columns:
          - {name: device, type: String, required: true}
          - {name: value, type: Double}
  - name: Audit
    retention: basicFIFO
    tables:
      - name: Events
        columns:
          - {name: id, type: Int64}
`

func parseConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return cfg
}

// fakeDispatcher is a DispatcherReader whose numbers a test sets.
type fakeDispatcher struct {
	mu    sync.Mutex
	usage batcher.Usage
	stats batcher.Stats
}

func (f *fakeDispatcher) Usage() batcher.Usage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.usage
}

func (f *fakeDispatcher) Stats() batcher.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakeDispatcher) set(fn func(u *batcher.Usage, s *batcher.Stats)) {
	f.mu.Lock()
	fn(&f.usage, &f.stats)
	f.mu.Unlock()
}

// fakeTokens returns the current token or err.
type fakeTokens struct {
	mu    sync.Mutex
	token string
	err   error
}

func (f *fakeTokens) Token(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.token, f.err
}

func (f *fakeTokens) Invalidate() {}

func (f *fakeTokens) set(tok string, err error) {
	f.mu.Lock()
	f.token, f.err = tok, err
	f.mu.Unlock()
}

// scrape GETs url/metrics and parses the exposition with the Prometheus text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// value finds the sample of family name with exactly labels (name=value pairs); ok=false if absent.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if !sameLabels(m.GetLabel(), labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func sameLabels(got []*dto.LabelPair, want []string) bool {
	if len(got)*2 != len(want) {
		return false
	}
	w := map[string]string{}
	for j := 0; j+1 < len(want); j += 2 {
		w[want[j]] = want[j+1]
	}
	for _, lp := range got {
		if v, ok := w[lp.GetName()]; !ok || v != lp.GetValue() {
			return false
		}
	}
	return true
}

// startServer runs s until the test ends and checks that Run returns nil.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return "http://" + s.Addr().String()
}

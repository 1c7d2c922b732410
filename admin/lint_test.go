package admin

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/internal/buildinfo"
)

// TestMetricsPassPromlint runs the Prometheus lint over every family /metrics exposes, with every
// source attached and every family populated, plus the Go, process and build_info families.
func TestMetricsPassPromlint(t *testing.T) {
	f := newFixture(t)
	f.lag = []PartitionLag{{Topic: "t", Partition: 0, Lag: 1}}
	f.post(t, http.MethodPost, "/datasets/x/tables/Readings/rows")
	f.write(t, good("a"), ingest.Record{Line: 2, Err: errors.New("invalid JSON"), Raw: []byte("{")})
	reg := prometheus.NewRegistry()
	if err := RegisterRuntime(reg, buildinfo.Info{Version: "1.0.0", Revision: "abc", GoVersion: "go1.26.0"}); err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]prometheus.Gatherer{"agent": f.srv.o.Gatherer, "runtime": reg} {
		problems, err := testutil.GatherAndLint(g)
		if err != nil {
			t.Fatalf("%s: lint: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s: %s", name, p.Metric, p.Text)
		}
	}
	// CollectAndLint on the pull collector alone (the named check).
	problems, err := testutil.CollectAndLint(f.m.coll)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("collector: %s: %s", p.Metric, p.Text)
	}
}

func TestRegisterRuntime(t *testing.T) {
	reg := prometheus.NewRegistry()
	in := buildinfo.Info{Version: "dev", Revision: "0123abcd", GoVersion: "go1.26.0"}
	if err := RegisterRuntime(reg, in); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var goFam, procFam bool
	for _, f := range fams {
		goFam = goFam || strings.HasPrefix(f.GetName(), "go_")
		procFam = procFam || strings.HasPrefix(f.GetName(), "process_")
		if f.GetName() != "pbi_pusher_build_info" {
			continue
		}
		m := f.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if m.GetGauge().GetValue() != 1 || labels["version"] != "dev" || labels["revision"] != "0123abcd" || labels["goversion"] != "go1.26.0" {
			t.Errorf("build_info = %v %v", labels, m.GetGauge().GetValue())
		}
	}
	if !goFam || !procFam {
		t.Errorf("go_* present %v, process_* present %v", goFam, procFam)
	}
	if err := RegisterRuntime(reg, in); err == nil {
		t.Error("registering twice succeeded")
	}
}

package admin

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pbi-pusher/pbi-pusher/internal/buildinfo"
)

// RegisterRuntime registers the conventional process-level families on reg: the Go runtime
// (go_*), the process (process_*) and pbi_pusher_build_info{version,revision,goversion} (always 1).
func RegisterRuntime(reg prometheus.Registerer, in buildinfo.Info) error {
	if reg == nil {
		return errors.New("admin runtime metrics: a registerer is required")
	}
	bi := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: ns + "build_info",
		Help: "Always 1: the running build's version, VCS revision and Go version as labels.",
		ConstLabels: prometheus.Labels{"version": in.Version, "revision": in.Revision,
			"goversion": in.GoVersion},
	})
	bi.Set(1)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		bi,
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("admin runtime metrics: %w", err)
		}
	}
	return nil
}

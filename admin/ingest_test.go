package admin

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pbi-pusher/pbi-pusher/config"
)

func TestHTTPIngestRejectedByReason(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	m.HTTPIngestRejected("too_many_rows", 10001)
	m.HTTPIngestRejected("schema", 3)
	m.HTTPIngestRejected("schema", 2)
	m.HTTPIngestRejected("unsupported_media_type", 0)
	for _, c := range []struct {
		vec    *prometheus.CounterVec
		reason string
		want   float64
	}{
		{m.ingest.requests, "schema", 2}, {m.ingest.rows, "schema", 5},
		{m.ingest.rows, "too_many_rows", 10001}, {m.ingest.requests, "unsupported_media_type", 1},
	} {
		if got := testutil.ToFloat64(c.vec.WithLabelValues(c.reason)); got != c.want {
			t.Errorf("%s: %v, want %v", c.reason, got, c.want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "pbi_pusher_http_ingest_rejected_requests_total", "pbi_pusher_http_ingest_rejected_rows_total"); err != nil || n != 6 {
		t.Errorf("gathered %d series (%v), want 6", n, err)
	}
	m.Unregister()
	if n, _ := testutil.GatherAndCount(reg, "pbi_pusher_http_ingest_rejected_requests_total"); n != 0 {
		t.Errorf("%d series left after Unregister", n)
	}
}

package admin

import "github.com/prometheus/client_golang/prometheus"

// ingestRejects counts requests (and their rows) the HTTP ingest source refused, by reason
// (httpsrc.Reason*: too_many_rows, schema, malformed, unsupported_media_type, origin,
// unauthorized, too_large, timeout, busy, spool_full).
type ingestRejects struct {
	requests, rows *prometheus.CounterVec
}

func newIngestRejects() *ingestRejects {
	return &ingestRejects{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "http_ingest_rejected_requests_total",
			Help: "Requests the HTTP ingest source refused since start, by reason.",
		}, []string{"reason"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "http_ingest_rejected_rows_total",
			Help: "Rows of refused HTTP ingest requests since start, by reason (where the rows were counted).",
		}, []string{"reason"}),
	}
}

func (r *ingestRejects) register(reg prometheus.Registerer) error {
	if err := reg.Register(r.requests); err != nil {
		return err
	}
	if err := reg.Register(r.rows); err != nil {
		reg.Unregister(r.requests)
		return err
	}
	return nil
}

func (r *ingestRejects) unregister(reg prometheus.Registerer) {
	reg.Unregister(r.requests)
	reg.Unregister(r.rows)
}

// HTTPIngestRejected counts one request the HTTP ingest source refused, with the rows it held
// (0 when unknown); it is httpsrc.Options.Rejected.
func (m *Metrics) HTTPIngestRejected(reason string, rows int) {
	m.ingest.requests.WithLabelValues(reason).Inc()
	m.ingest.rows.WithLabelValues(reason).Add(float64(rows))
}

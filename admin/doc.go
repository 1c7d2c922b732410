// Package admin serves pbi-pusher's operations endpoints on admin.listen (default
// 127.0.0.1:9464): /metrics (Prometheus text format from an injected registry), /healthz,
// /readyz and /status (JSON or a small HTML page).
//
// Metrics are gathered two ways, so that no package has to carry metrics through its API:
//
//   - pulled at scrape time by a collector that reads snapshots: the spool's Stats and
//     Delivered counts, each dataset's dispatcher budget and counters, and Kafka lag;
//   - counted by thin wrappers the wiring code puts around existing seams: the sink's
//     http.RoundTripper (POST rows status codes, 429s, latency, in-flight), the token source
//     (fetches, refreshes) and the ingest record writer and batcher queue (rows read, spooled
//     and dead-lettered by reason).
//
// /status is built from the same snapshot as the metrics, so both always agree.
package admin

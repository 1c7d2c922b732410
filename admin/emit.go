package admin

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// emitter turns a Status into metrics.
type emitter struct {
	ch   chan<- prometheus.Metric
	fams families
}

func (e emitter) emit(name string, v float64, labels ...string) {
	f := e.fams[name]
	m, err := prometheus.NewConstMetric(f.desc, f.typ, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(f.desc, err)
	}
	e.ch <- m
}

func (e emitter) spool(s *SpoolStatus) {
	if s == nil {
		return
	}
	e.emit("spool_in_flight_rows", float64(s.InFlightRows))
	e.emit("spool_dead_letters", float64(s.DeadLetters))
	e.emit("spool_file_bytes", float64(s.FileBytes))
	e.emit("spool_used_bytes", float64(s.UsedBytes))
	e.emit("spool_max_bytes", float64(s.MaxBytes))
	e.emit("spool_dropped_rows_total", float64(s.DroppedRows))
	e.emit("spool_quarantined_files", float64(s.Quarantined))
	e.emit("spool_dead_letters_evicted_total", float64(s.DeadEvicted))
	e.emit("spool_disk_full", boolValue(s.DiskFull))
}

// dataset emits d; spool says whether a spool is attached (else its numbers are unknown).
func (e emitter) dataset(d DatasetStatus, spool bool) {
	for _, t := range d.Tables {
		e.table(d.Name, t, spool)
	}
	e.sink(d.Name, d.Sink)
	b := d.Budget
	if b == nil {
		return
	}
	e.emit("dataset_rows_this_hour", float64(b.RowsThisHour), d.Name)
	e.emit("dataset_rows_left_this_hour", float64(b.RowsLeftThisHour), d.Name)
	e.emit("dataset_posts_this_minute", float64(b.PostsThisMinute), d.Name)
	e.emit("dataset_posts_left", float64(b.PostsLeft), d.Name)
	e.emit("dataset_posts_in_flight", float64(b.InFlight), d.Name)
	e.emit("dataset_large_tier", boolValue(b.LargeTier), d.Name)
	e.emit("dataset_rate_multiplier", b.Multiplier, d.Name)
	e.emit("dataset_share", b.Share, d.Name)
	e.emit("dataset_paused_seconds", b.PausedSeconds, d.Name)
	for _, k := range sortedKeys(b.Posts) {
		e.emit("dataset_posts_total", float64(b.Posts[k]), d.Name, k)
	}
	e.emit("retry_waits_total", float64(b.RetryWaits), d.Name)
	e.emit("retry_wait_seconds_total", b.RetryWaitSeconds, d.Name)
}

// sinkStates are the values of the state label of sink_state.
var sinkStates = []string{"connecting", "up", "failing", "auth_failed", "parked"}

func (e emitter) sink(ds string, s *SinkStatus) {
	if s == nil {
		return
	}
	e.emit("sink_up", boolValue(s.Up()), ds)
	for _, st := range sinkStates {
		e.emit("sink_state", boolValue(s.State == st), ds, st)
	}
	if !s.LastSuccess.IsZero() {
		e.emit("sink_last_success_timestamp_seconds", float64(s.LastSuccess.UnixNano())/1e9, ds)
	}
	for _, k := range sortedKeys(s.Errors) {
		e.emit("sink_errors_total", float64(s.Errors[k]), ds, k)
	}
}

func (e emitter) table(ds string, t TableStatus, spool bool) {
	e.emit("rows_read_total", float64(t.Read), ds, t.Name)
	e.emit("rows_spooled_total", float64(t.Spooled), ds, t.Name)
	e.emit("unknown_fields_ignored_total", float64(t.UnknownIgnored), ds, t.Name)
	if t.ServiceRows != nil {
		e.emit("service_rows", float64(*t.ServiceRows), ds, t.Name)
		e.emit("service_minus_delivered_rows", float64(*t.ServiceMinusDelivered), ds, t.Name)
	}
	for _, r := range sortedKeys(t.DeadLettered) {
		e.emit("rows_dead_lettered_total", float64(t.DeadLettered[r]), ds, t.Name, r)
	}
	if !spool {
		return
	}
	e.emit("rows_delivered_total", float64(t.Delivered), ds, t.Name)
	e.emit("spool_rows", float64(t.BacklogRows), ds, t.Name)
	e.emit("spool_bytes", float64(t.BacklogBytes), ds, t.Name)
	e.emit("spool_oldest_age_seconds", t.OldestAgeSeconds, ds, t.Name)
}

func (e emitter) posts(p PostStatus) {
	for _, code := range sortedKeys(p.ByCode) {
		e.emit("http_posts_total", float64(p.ByCode[code]), code)
	}
	e.emit("http_throttled_total", float64(p.Throttled))
	e.emit("http_posts_in_flight", float64(p.InFlight))
}

func (e emitter) tokens(t TokenStatus) {
	e.emit("token_requests_total", float64(t.OK), "ok")
	e.emit("token_requests_total", float64(t.Errors), "error")
	e.emit("token_refreshes_total", float64(t.Refreshes))
	e.emit("token_invalidations_total", float64(t.Invalidations))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

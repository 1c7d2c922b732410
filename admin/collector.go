package admin

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

const ns = "pbi_pusher_"

// family is one metric family the collector emits.
type family struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

// families are every family of the collector, by short name.
type families map[string]family

var (
	lTable   = []string{"dataset", "table"}
	lDataset = []string{"dataset"}
	lDest    = []string{"destination", "dataset", "table"}
)

// familySpecs lists name, type, labels and help of every pulled family.
var familySpecs = []struct {
	name   string
	typ    prometheus.ValueType
	labels []string
	help   string
}{
	{"rows_read_total", prometheus.CounterValue, lTable, "Records read from sources (good and bad) since start."},
	{"rows_spooled_total", prometheus.CounterValue, lTable, "Rows durably spooled since start."},
	{"unknown_fields_ignored_total", prometheus.CounterValue, lTable, "Input fields that map to no column, ignored (unknown_fields: ignore) since start."},
	{"rows_delivered_total", prometheus.CounterValue, lTable, "Rows acknowledged by Power BI since the spool file was created."},
	{"service_rows", prometheus.GaugeValue, lTable, "Rows the service holds in the table (read-back through executeQueries); absent when unknown."},
	{"service_minus_delivered_rows", prometheus.GaugeValue, lTable, "service_rows minus rows_delivered_total: duplicates (> 0) or rows lost (< 0) with one instance per dataset."},
	{"rows_dead_lettered_total", prometheus.CounterValue, []string{"dataset", "table", "reason"}, "Rows dead-lettered since start, by reason (decode, schema, rejected)."},
	{"spool_rows", prometheus.GaugeValue, lTable, "Rows waiting in the spool (not in flight)."},
	{"spool_bytes", prometheus.GaugeValue, lTable, "Row bytes waiting in the spool."},
	{"spool_oldest_age_seconds", prometheus.GaugeValue, lTable, "Age of the oldest waiting row; 0 when none."},
	{"spool_in_flight_rows", prometheus.GaugeValue, nil, "Rows taken from the spool and not yet answered."},
	{"spool_dead_letters", prometheus.GaugeValue, nil, "Rows held in the dead-letter bucket."},
	{"spool_file_bytes", prometheus.GaugeValue, nil, "Size of the spool file."},
	{"spool_used_bytes", prometheus.GaugeValue, nil, "Row bytes counted against spool.max_bytes."},
	{"spool_max_bytes", prometheus.GaugeValue, nil, "spool.max_bytes."},
	{"spool_dropped_rows_total", prometheus.CounterValue, nil, "Rows dropped by when_full: drop_oldest over the spool file's life."},
	{"spool_quarantined_files", prometheus.GaugeValue, nil, "Damaged spool files moved aside when this process started (0 or 1)."},
	{"spool_dead_letters_evicted_total", prometheus.CounterValue, nil, "Dead letters evicted by spool.dead_letter_max_bytes over the spool file's life."},
	{"spool_disk_full", prometheus.GaugeValue, nil, "1 while ingest is paused because less than spool.reserve_bytes is free on disk."},
	{"sink_up", prometheus.GaugeValue, lDataset, "1 while Power BI answers for the dataset; 0 while connecting, failing, auth-failed or parked (rows keep spooling)."},
	{"sink_state", prometheus.GaugeValue, []string{"dataset", "state"}, "1 for the dataset's current sink state (connecting, up, failing, auth_failed, parked)."},
	{"sink_last_success_timestamp_seconds", prometheus.GaugeValue, lDataset, "Unix time of the dataset's last successful call to Power BI."},
	{"sink_errors_total", prometheus.CounterValue, []string{"dataset", "class"}, "Failed calls to Power BI since start, by class (unreachable, server, throttled, rejected, dead_lettered, auth, fatal)."},
	{"destination_rows_delivered_total", prometheus.CounterValue, lDest, "Rows a destination besides Power BI (eventstream/NAME) acknowledged since the spool file was created."},
	{"destination_backlog_rows", prometheus.GaugeValue, lDest, "Rows waiting in the spool for a destination besides Power BI (not in flight)."},
	{"destination_in_flight_rows", prometheus.GaugeValue, lDest, "Rows sent to a destination besides Power BI and not yet answered."},
	{"destination_sends_total", prometheus.CounterValue, []string{"destination", "outcome"}, "Sends to a destination besides Power BI, by outcome (ok, throttled, retryable, rejected, fatal)."},
	{"destination_paused_seconds", prometheus.GaugeValue, []string{"destination"}, "Seconds until a destination's current pause (throttling or retry) ends."},
	{"dataset_rows_this_hour", prometheus.GaugeValue, lDataset, "Rows sent in the rolling hour."},
	{"dataset_rows_left_this_hour", prometheus.GaugeValue, lDataset, "Rows the rolling-hour budget still allows."},
	{"dataset_posts_this_minute", prometheus.GaugeValue, lDataset, "POSTs sent in the rolling minute."},
	{"dataset_posts_left", prometheus.GaugeValue, lDataset, "POSTs left in the binding window (minute, or hour in the large tier)."},
	{"dataset_posts_in_flight", prometheus.GaugeValue, lDataset, "POSTs in flight for the dataset."},
	{"dataset_large_tier", prometheus.GaugeValue, lDataset, "1 once a retention-None table passed large_table_rows (hourly POST limit)."},
	{"dataset_rate_multiplier", prometheus.GaugeValue, lDataset, "AIMD multiplier times share applied to the configured rates."},
	{"dataset_share", prometheus.GaugeValue, lDataset, "This instance's part of the dataset's limits (Kafka scale-out; 1 alone)."},
	{"dataset_paused_seconds", prometheus.GaugeValue, lDataset, "Seconds until the dataset's current pause (429 or retry) ends."},
	{"dataset_posts_total", prometheus.CounterValue, []string{"dataset", "outcome"}, "POSTs answered, by outcome (ok, throttled, retryable, rejected, fatal)."},
	{"retry_waits_total", prometheus.CounterValue, lDataset, "Pauses started after a 429 or a retryable failure."},
	{"retry_wait_seconds_total", prometheus.CounterValue, lDataset, "Sum of the pauses asked for after 429s and retryable failures."},
	{"http_posts_total", prometheus.CounterValue, []string{"code"}, "POST rows requests by HTTP status code (error = no response)."},
	{"http_throttled_total", prometheus.CounterValue, nil, "POST rows requests answered 429."},
	{"http_posts_in_flight", prometheus.GaugeValue, nil, "POST rows requests waiting for a response."},
	{"token_requests_total", prometheus.CounterValue, []string{"result"}, "Token requests to the token source, by result (ok, error)."},
	{"token_refreshes_total", prometheus.CounterValue, nil, "New tokens obtained (the first included)."},
	{"token_invalidations_total", prometheus.CounterValue, nil, "Tokens invalidated after a 401."},
	{"kafka_lag", prometheus.GaugeValue, []string{"topic", "partition"}, "Kafka consumer lag in messages, per partition."},
}

func newFamilies() families {
	f := families{}
	for _, s := range familySpecs {
		f[s.name] = family{desc: prometheus.NewDesc(ns+s.name, s.help, s.labels, nil), typ: s.typ}
	}
	return f
}

// collector reads a Status snapshot at scrape time.
type collector struct {
	m    *Metrics
	fams families
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.fams {
		ch <- f.desc
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.Status()
	e := emitter{ch: ch, fams: c.fams}
	e.spool(st.Spool)
	for _, d := range st.Datasets {
		e.dataset(d, st.Spool != nil)
	}
	for _, d := range st.Destinations {
		e.destination(d)
	}
	e.posts(st.Posts)
	e.tokens(st.Tokens)
	for _, l := range st.Kafka {
		e.emit("kafka_lag", float64(l.Lag), l.Topic, strconv.Itoa(l.Partition))
	}
}

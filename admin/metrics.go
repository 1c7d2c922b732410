package admin

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// SpoolReader is what admin reads from the spool (*spool.Spool implements it).
type SpoolReader interface {
	Stats() spool.Stats
	Delivered(q spool.QueueKey) int64
}

// DispatcherReader is what admin reads from one dataset's dispatcher: its budget and counters.
type DispatcherReader interface {
	Usage() batcher.Usage
	Stats() batcher.Stats
}

// PartitionLag is the consumer lag of one Kafka partition.
type PartitionLag struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Lag       int64  `json:"lag"`
}

// Sources are the snapshots read at scrape time, attached with SetSources once they exist (the
// spool and the dispatchers are created after the wrapped HTTP client and token source). Every
// field is optional: a nil source's metrics are absent.
type Sources struct {
	Spool SpoolReader
	// Dispatcher returns a dataset's running dispatcher, or nil before it runs (see Dispatchers).
	Dispatcher func(dataset string) DispatcherReader
	KafkaLag   func() []PartitionLag
	// UnknownFields returns how many input fields of a table were ignored (schema.Table).
	UnknownFields func(q spool.QueueKey) int64
	// Sink returns a dataset's sink state (nil = unknown).
	Sink func(dataset string) *SinkStatus
	// ServiceRows returns the rows the service holds in a table (read-back), ok false when
	// unknown; nil when read-back is off.
	ServiceRows func(q spool.QueueKey) (rows int64, ok bool)
	// Destinations returns the destinations besides Power BI (eventstreams) and their tables.
	Destinations func() []DestinationSnapshot
	Now          func() time.Time // nil = time.Now
}

// Metrics owns pbi-pusher's metrics: one pull collector and the POST latency histogram,
// registered on the injected registerer by NewMetrics and removed by Unregister. Its wrappers
// (Transport, HTTPClient, Tokens, Writer, Queue) count events; it is safe for concurrent use.
type Metrics struct {
	cfg     *config.Config
	reg     prometheus.Registerer
	tables  *tableCounts
	posts   *postCounts
	tokens  *tokenCounts
	latency prometheus.Histogram
	coll    *collector
	ingest  *ingestRejects

	mu  sync.Mutex
	src Sources
}

// NewMetrics registers the metrics of cfg's datasets and tables on reg (use
// prometheus.NewRegistry, never the global one).
func NewMetrics(reg prometheus.Registerer, cfg *config.Config) (*Metrics, error) {
	if reg == nil || cfg == nil {
		return nil, errors.New("admin metrics: a registerer and a config are required")
	}
	m := &Metrics{
		cfg:    cfg,
		reg:    reg,
		tables: newTableCounts(),
		posts:  newPostCounts(),
		tokens: &tokenCounts{},
		ingest: newIngestRejects(),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pbi_pusher_http_post_duration_seconds",
			Help:    "Latency of POST rows requests to Power BI, until the response headers.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
	}
	m.coll = &collector{m: m, fams: newFamilies()}
	if err := reg.Register(m.latency); err != nil {
		return nil, fmt.Errorf("admin metrics: register latency histogram: %w", err)
	}
	if err := reg.Register(m.coll); err != nil {
		reg.Unregister(m.latency)
		return nil, fmt.Errorf("admin metrics: register collector: %w", err)
	}
	if err := m.ingest.register(reg); err != nil {
		reg.Unregister(m.coll)
		reg.Unregister(m.latency)
		return nil, fmt.Errorf("admin metrics: register ingest rejections: %w", err)
	}
	return m, nil
}

// SetSources attaches (or replaces) the pulled sources.
func (m *Metrics) SetSources(s Sources) {
	m.mu.Lock()
	m.src = s
	m.mu.Unlock()
}

func (m *Metrics) sources() Sources {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.src
	if s.Now == nil {
		s.Now = time.Now
	}
	return s
}

// Unregister removes the metrics from the registerer (call on shutdown).
func (m *Metrics) Unregister() {
	m.reg.Unregister(m.coll)
	m.reg.Unregister(m.latency)
	m.ingest.unregister(m.reg)
}

// Dispatchers adapts a lookup returning a concrete dispatcher pointer (pipeline's
// (*Pipeline).Dispatcher) to Sources.Dispatcher, turning a nil pointer into a nil interface.
func Dispatchers[D interface {
	comparable
	DispatcherReader
}](get func(dataset string) D) func(string) DispatcherReader {
	return func(dataset string) DispatcherReader {
		var zero D
		if d := get(dataset); d != zero {
			return d
		}
		return nil
	}
}

package admin

import (
	"time"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Status is one snapshot of everything /status and /metrics report.
type Status struct {
	Time     time.Time       `json:"time"`
	Ready    bool            `json:"ready"`
	Spool    *SpoolStatus    `json:"spool,omitempty"`
	Posts    PostStatus      `json:"posts"`
	Tokens   TokenStatus     `json:"tokens"`
	Datasets []DatasetStatus `json:"datasets"`
	// Destinations are the destinations besides Power BI (eventstreams) tables are delivered to.
	Destinations []DestinationStatus `json:"destinations,omitempty"`
	Kafka        []PartitionLag      `json:"kafka_lag,omitempty"`
	// DeadLettersURL is the live dead-letter API (GET, paged; ?table=DATASET/TABLE&reason=...).
	DeadLettersURL string `json:"dead_letters_url,omitempty"`
}

// SpoolStatus is the spool-wide part of spool.Stats.
type SpoolStatus struct {
	FileBytes    int64 `json:"file_bytes"`
	UsedBytes    int64 `json:"used_bytes"`
	MaxBytes     int64 `json:"max_bytes"`
	InFlightRows int   `json:"in_flight_rows"`
	DeadLetters  int   `json:"dead_letters"`
	DroppedRows  int64 `json:"dropped_rows"`
	// Quarantined: damaged spool files moved aside at this start (0 or 1).
	Quarantined int `json:"quarantined"`
	// DeadEvicted: dead letters evicted by spool.dead_letter_max_bytes over the file's life.
	DeadEvicted int64 `json:"dead_letters_evicted"`
	// DiskFull: ingest paused, less than spool.reserve_bytes free on disk.
	DiskFull bool `json:"disk_full"`
	// Checking: the check of the file after an unclean stop is running in the background
	// (delivery runs meanwhile); counts are estimates until it ends.
	Checking bool `json:"checking,omitempty"`
}

// PostStatus counts POST rows requests seen by the instrumented transport.
type PostStatus struct {
	ByCode    map[string]int64 `json:"by_code"`
	Throttled int64            `json:"throttled"`
	InFlight  int64            `json:"in_flight"`
}

// TokenStatus counts token source activity.
type TokenStatus struct {
	OK            int64 `json:"ok"`
	Errors        int64 `json:"errors"`
	Refreshes     int64 `json:"refreshes"`
	Invalidations int64 `json:"invalidations"`
}

// DatasetStatus is one dataset: its budget (when its dispatcher runs) and its tables.
type DatasetStatus struct {
	Name        string        `json:"name"`
	Retention   string        `json:"retention"`
	RowsPerHour int           `json:"rows_per_hour"`
	Budget      *BudgetStatus `json:"budget,omitempty"`
	Drain       *DrainStatus  `json:"drain,omitempty"`
	Sink        *SinkStatus   `json:"sink,omitempty"`
	Tables      []TableStatus `json:"tables"`
}

// SinkStatus is a dataset's connection to Power BI, reported apart from readiness (which means
// "accepting input durably"): rows are spooled in every state.
type SinkStatus struct {
	State       string           `json:"state"` // connecting, up, failing, auth_failed, parked
	Reason      string           `json:"reason,omitempty"`
	Since       time.Time        `json:"since"`
	DownSince   time.Time        `json:"down_since,omitzero"`
	LastSuccess time.Time        `json:"last_success,omitzero"`
	Permanent   bool             `json:"permanent"` // cannot heal by itself (parked, credentials refused)
	Errors      map[string]int64 `json:"errors"`    // sink errors since start, by class
}

// Up reports whether the service answers.
func (s *SinkStatus) Up() bool { return s.State == "up" }

// BudgetStatus is a dispatcher's budget and counters (batcher.Usage and batcher.Stats).
type BudgetStatus struct {
	RowsThisHour     int              `json:"rows_this_hour"`
	RowsLeftThisHour int              `json:"rows_left_this_hour"`
	PostsThisMinute  int              `json:"posts_this_minute"`
	PostsThisHour    int              `json:"posts_this_hour"`
	PostsLeft        int              `json:"posts_left"`
	InFlight         int              `json:"in_flight"`
	MaxInFlight      int              `json:"max_in_flight"`
	LargeTier        bool             `json:"large_tier"`
	Multiplier       float64          `json:"multiplier"`
	Share            float64          `json:"share"`                 // this instance's part of the dataset's limits
	Settling         bool             `json:"settling"`              // part of the share still ramps up after a rebalance
	FullTables       []string         `json:"full_tables,omitempty"` // None tables the service says are full: held
	PausedSeconds    float64          `json:"paused_seconds"`
	Posts            map[string]int64 `json:"posts"` // by outcome
	RetryWaits       int64            `json:"retry_waits"`
	RetryWaitSeconds float64          `json:"retry_wait_seconds"`
}

// TableStatus is one table. Read, Spooled and DeadLettered count since the process started;
// Delivered counts since the spool file was created.
type TableStatus struct {
	Name             string           `json:"name"`
	Read             int64            `json:"read"`
	Spooled          int64            `json:"spooled"`
	UnknownIgnored   int64            `json:"unknown_fields_ignored"`
	Delivered        int64            `json:"delivered"`
	DeadLettered     map[string]int64 `json:"dead_lettered"` // by reason
	BacklogRows      int              `json:"backlog_rows"`
	BacklogBytes     int64            `json:"backlog_bytes"`
	OldestAgeSeconds float64          `json:"oldest_age_seconds"`
	// ServiceRows is the table's row count at the service (read-back, powerbi.read_back), and
	// ServiceMinusDelivered its difference with Delivered (what `pbi-pusher verify` compares):
	// with one instance per dataset, 0 when every delivered row is there exactly once. Absent
	// when read-back is off or the service cannot be asked.
	ServiceRows           *int64 `json:"service_rows,omitempty"`
	ServiceMinusDelivered *int64 `json:"service_minus_delivered,omitempty"`
}

// Status takes a snapshot (Ready is left false: the Server fills it in).
func (m *Metrics) Status() Status {
	src := m.sources()
	now := src.Now()
	st := Status{Time: now, Posts: m.postStatus(), Tokens: m.tokenStatus()}
	var ss spool.Stats
	if src.Spool != nil {
		ss = src.Spool.Stats()
		st.Spool = &SpoolStatus{FileBytes: ss.FileBytes, UsedBytes: ss.Bytes, MaxBytes: ss.MaxBytes,
			InFlightRows: ss.InFlight, DeadLetters: ss.DeadLetters, DroppedRows: ss.Dropped,
			Quarantined: ss.Quarantined, DeadEvicted: ss.DeadEvicted, DiskFull: ss.DiskFull,
			Checking: ss.Checking}
	}
	for _, ds := range m.cfg.Datasets {
		d := DatasetStatus{Name: ds.Name, Retention: ds.Retention, RowsPerHour: ds.Limits.RowsPerHour}
		if src.Dispatcher != nil {
			if disp := src.Dispatcher(ds.Name); disp != nil {
				d.Budget = budgetStatus(now, disp.Usage(), disp.Stats())
				d.Drain = drainStatus(disp)
			}
		}
		if src.Sink != nil {
			d.Sink = src.Sink(ds.Name)
		}
		for _, t := range ds.Tables {
			d.Tables = append(d.Tables, m.tableStatus(src, now, spool.QueueKey{Dataset: ds.Name, Table: t.Name}, ss))
		}
		st.Datasets = append(st.Datasets, d)
	}
	if src.Destinations != nil {
		st.Destinations = destinations(now, src.Destinations())
	}
	if src.KafkaLag != nil {
		st.Kafka = src.KafkaLag()
	}
	return st
}

func (m *Metrics) tableStatus(src Sources, now time.Time, q spool.QueueKey, ss spool.Stats) TableStatus {
	c := m.tables.get(q)
	t := TableStatus{Name: q.Table, Read: c.read, Spooled: c.spooled, DeadLettered: c.dead}
	if src.UnknownFields != nil {
		t.UnknownIgnored = src.UnknownFields(q)
	}
	if src.Spool == nil {
		return t
	}
	t.Delivered = src.Spool.Delivered(q)
	if src.ServiceRows != nil {
		if n, ok := src.ServiceRows(q); ok {
			diff := n - t.Delivered
			t.ServiceRows, t.ServiceMinusDelivered = &n, &diff
		}
	}
	b := ss.Queues[q]
	t.BacklogRows, t.BacklogBytes = b.Rows, b.Bytes
	if !b.Oldest.IsZero() {
		t.OldestAgeSeconds = max(0, now.Sub(b.Oldest).Seconds())
	}
	return t
}

func budgetStatus(now time.Time, u batcher.Usage, s batcher.Stats) *BudgetStatus {
	b := &BudgetStatus{
		RowsThisHour: u.RowsThisHour, RowsLeftThisHour: u.RowsLeftThisHour,
		PostsThisMinute: u.PostsThisMinute, PostsThisHour: u.PostsThisHour, PostsLeft: u.PostsLeft,
		InFlight: u.InFlight, MaxInFlight: u.MaxInFlight, LargeTier: u.LargeTier, Multiplier: u.Multiplier,
		Share: u.Share, Settling: u.Settling, FullTables: u.FullTables,
		Posts: map[string]int64{"ok": s.OK, "throttled": s.Throttled, "retryable": s.Retryable,
			"rejected": s.Rejected, "fatal": s.Fatal},
		RetryWaits: s.RetryWaits, RetryWaitSeconds: s.RetryWaitTotal.Seconds(),
	}
	if u.PausedUntil.After(now) {
		b.PausedSeconds = u.PausedUntil.Sub(now).Seconds()
	}
	return b
}

func (m *Metrics) postStatus() PostStatus {
	by := m.posts.snapshot()
	return PostStatus{ByCode: by, Throttled: by["429"], InFlight: m.posts.inFlight.Load()}
}

func (m *Metrics) tokenStatus() TokenStatus {
	c := m.tokens
	return TokenStatus{OK: c.ok.Load(), Errors: c.failed.Load(), Refreshes: c.refreshes.Load(),
		Invalidations: c.invalidations.Load()}
}

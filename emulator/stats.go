package emulator

import (
	"bytes"
	"encoding/json"
	"maps"
	"time"
)

// Stats is a snapshot of everything the emulator saw, served at GET /emulator/stats.
type Stats struct {
	Now time.Time `json:"now"`
	// Throttled is every 429 answered, and Violations every request refused for exceeding a
	// Power BI limit (injected faults excluded), summed over the datasets.
	Throttled  int64          `json:"throttled"`
	Violations int64          `json:"violations"`
	Datasets   []DatasetStats `json:"datasets"`
}

// DatasetStats are one dataset's counters. Posts that pass the rate limits count in the
// rolling windows whether their rows are then stored (Posts) or rejected (Rejected).
type DatasetStats struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Workspace   string `json:"workspace"` // group id; "" = My workspace
	DefaultMode string `json:"defaultMode"`
	Retention   string `json:"defaultRetentionPolicy"`

	Posts       int64            `json:"posts"`       // accepted POST rows (rows stored), dropped ones included
	Rows        int64            `json:"rows"`        // rows accepted, ever
	Rejected    int64            `json:"rejected"`    // POST rows rejected for their values (400)
	Rejections  []Rejection      `json:"rejections"`  // the latest rejections (up to 10), oldest first
	Failed      int64            `json:"failed"`      // injected 500s
	Slowed      int64            `json:"slowed"`      // injected slow responses
	Dropped     int64            `json:"dropped"`     // accepted, then the connection was dropped
	DroppedRows int64            `json:"droppedRows"` // rows of the dropped posts (stored)
	Throttles   map[string]int64 `json:"throttles"`   // 429s by reason (Reason* constants)
	Throttled   int64            `json:"throttled"`   // every 429 (the sum of Throttles)
	// Violations counts requests refused for exceeding a Power BI limit, by limit: the 429
	// reasons except injected, plus rows_per_post, body_bytes, table_rows and string_length.
	Violations map[string]int64 `json:"violations"`
	Queries    int64            `json:"queries"` // executeQueries requests admitted

	PostsLastMinute    int64 `json:"postsLastMinute"`
	PostsLastHour      int64 `json:"postsLastHour"`
	RowsLastHour       int64 `json:"rowsLastHour"`
	PeakPostsPerMinute int64 `json:"peakPostsPerMinute"` // max posts in any rolling minute
	PeakPostsPerHour   int64 `json:"peakPostsPerHour"`   // max posts in any rolling hour
	PeakRowsPerHour    int64 `json:"peakRowsPerHour"`    // max rows in any rolling hour
	Pending            int   `json:"pending"`
	PeakPending        int   `json:"peakPending"`

	RowsPerMinute []MinuteRows `json:"rowsPerMinute"` // the last hour, minutes with rows only
	Tables        []TableStats `json:"tables"`
}

// TableStats are one table's counters.
type TableStats struct {
	Name     string   `json:"name"`
	Columns  []Column `json:"columns"`
	Rows     int      `json:"rows"`     // rows stored now
	Accepted int64    `json:"accepted"` // rows ever stored
	Evicted  int64    `json:"evicted"`  // rows dropped by basicFIFO retention
	Posts    int64    `json:"posts"`    // accepted POST rows
	// Preloaded counts rows stored by Server.Preload and AppendRows (included in Accepted).
	Preloaded int64 `json:"preloaded"`
}

// Stats returns a snapshot of every dataset's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	out := Stats{Now: now, Datasets: make([]DatasetStats, 0, len(s.datasets))}
	for _, d := range s.datasets {
		st := d.statsLocked(now)
		out.Throttled += st.Throttled
		for _, n := range st.Violations {
			out.Violations += n
		}
		out.Datasets = append(out.Datasets, st)
	}
	return out
}

// DatasetsByName returns the stats of every dataset called name (names are not unique).
func (s *Server) DatasetsByName(name string) []DatasetStats {
	var out []DatasetStats
	for _, d := range s.Stats().Datasets {
		if d.Name == name {
			out = append(out, d)
		}
	}
	return out
}

func (d *dataset) statsLocked(now time.Time) DatasetStats {
	st := DatasetStats{ID: d.id, Name: d.name, Workspace: d.workspace, DefaultMode: d.mode, Retention: d.retention,
		Posts: d.stats.posts, Rows: d.stats.rows, Rejected: d.stats.rejected, Failed: d.stats.failed,
		Slowed: d.stats.slowed, Dropped: d.stats.dropped, DroppedRows: d.stats.droppedRows,
		Throttles: maps.Clone(d.stats.throttles), Violations: maps.Clone(d.stats.violations), Queries: d.stats.queries,
		PostsLastMinute: d.postsMin.total(now), PostsLastHour: d.postsHour.total(now),
		RowsLastHour: d.rowsHour.total(now), PeakPostsPerMinute: d.postsMin.peak,
		PeakPostsPerHour: d.postsHour.peak, PeakRowsPerHour: d.rowsHour.peak,
		Pending: d.pending, PeakPending: d.stats.peakPending,
		RowsPerMinute: append([]MinuteRows{}, d.perMinute...), Rejections: append([]Rejection{}, d.stats.rejections...)}
	for reason, n := range d.stats.throttles {
		st.Throttled += n
		if reason != ReasonInjected {
			st.Violations[reason] += n
		}
	}
	for _, t := range d.tables {
		st.Tables = append(st.Tables, TableStats{Name: t.name, Columns: append([]Column{}, t.columns...),
			Rows: t.count(), Accepted: t.accepted, Evicted: t.evicted, Posts: t.posts, Preloaded: t.preloaded})
	}
	return st
}

// Rows returns the rows stored in a table, oldest first (nil if there is no such table).
// Numbers are json.Number, so Int64 values keep their precision.
func (s *Server) Rows(datasetID, table string) []map[string]any {
	raw := s.rawRows(datasetID, table, 0)
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// rawRows returns up to limit newest rows (all if limit <= 0) of a table in any workspace.
func (s *Server) rawRows(datasetID, table string, limit int) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.datasets {
		if d.id != datasetID {
			continue
		}
		if t := d.table(table); t != nil {
			return t.latest(limit)
		}
	}
	return nil
}

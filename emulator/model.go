package emulator

import (
	"strings"
	"time"
)

// Retention policies (query parameter defaultRetentionPolicy).
const (
	RetentionNone      = "None"
	RetentionBasicFIFO = "basicFIFO"
)

// Column is one column of a table schema; dataType is canonical (Int64, Double, ...).
type Column struct {
	Name     string `json:"name"`
	DataType string `json:"dataType"`
}

// table holds a schema and its stored rows (raw JSON objects, oldest first from head).
type table struct {
	name     string
	columns  []Column
	index    map[string]string // column name → canonical data type
	rows     [][]byte
	head     int
	accepted int64 // rows ever stored
	evicted  int64 // rows dropped by basicFIFO
	posts    int64 // successful POST rows
	// preloaded counts rows stored by Preload and AppendRows.
	preloaded int64
}

func newTable(name string, cols []Column) *table {
	t := &table{name: name}
	t.setColumns(cols)
	return t
}

func (t *table) setColumns(cols []Column) {
	t.columns = cols
	t.index = make(map[string]string, len(cols))
	for _, c := range cols {
		t.index[c.Name] = c.DataType
	}
}

func (t *table) count() int { return len(t.rows) - t.head }

// append stores rows and, when keep > 0, evicts the oldest beyond keep.
func (t *table) append(rows [][]byte, keep int) {
	t.rows = append(t.rows, rows...)
	t.accepted += int64(len(rows))
	if keep > 0 && t.count() > keep {
		drop := t.count() - keep
		clear(t.rows[t.head : t.head+drop])
		t.head += drop
		t.evicted += int64(drop)
	}
	if t.head > 1024 && t.head*2 >= len(t.rows) {
		t.rows = append(t.rows[:0:0], t.rows[t.head:]...)
		t.head = 0
	}
}

func (t *table) clearRows() {
	t.rows, t.head = nil, 0
}

// latest returns up to n newest rows (all if n <= 0), oldest first.
func (t *table) latest(n int) [][]byte {
	live := t.rows[t.head:]
	if n > 0 && n < len(live) {
		live = live[len(live)-n:]
	}
	return append([][]byte(nil), live...)
}

// first returns up to n oldest rows.
func (t *table) first(n int) [][]byte {
	live := t.rows[t.head:]
	return append([][]byte(nil), live[:min(n, len(live))]...)
}

// dataset is one push dataset with its rate-limit state.
type dataset struct {
	id        string
	name      string
	workspace string // "" = My workspace
	mode      string
	retention string
	push      bool // addRowsAPIEnabled
	created   time.Time
	tables    []*table
	postsMin  *window
	postsHour *window
	rowsHour  *window
	pending   int
	stats     counters
	perMinute []MinuteRows
}

// counters are the dataset's introspection counters.
type counters struct {
	posts, rows, rejected, failed, dropped, droppedRows, slowed, queries int64
	throttles, violations                                                map[string]int64
	peakPending                                                          int
	rejections                                                           []Rejection // the latest, oldest first
}

// Rejection is one POST rows answered 400 for its values: when, which table, and the message
// the service answered (shown on the web page).
type Rejection struct {
	At     time.Time `json:"at"`
	Table  string    `json:"table"`
	Reason string    `json:"reason"`
}

// maxRejections is how many of the latest rejections a dataset keeps for the web page.
const maxRejections = 10

// noteRejection keeps r among the latest rejections.
func (c *counters) noteRejection(r Rejection) {
	c.rejections = append(c.rejections, r)
	if n := len(c.rejections); n > maxRejections {
		c.rejections = append([]Rejection(nil), c.rejections[n-maxRejections:]...)
	}
}

// MinuteRows is the number of rows accepted in one clock minute.
type MinuteRows struct {
	Minute time.Time `json:"minute"`
	Rows   int64     `json:"rows"`
}

// table finds a table by name. Table names are case-insensitive everywhere (as object names
// of the tabular model are): in duplicates at creation, in every URL and in DAX.
func (d *dataset) table(name string) *table {
	for _, t := range d.tables {
		if strings.EqualFold(t.name, name) {
			return t
		}
	}
	return nil
}

// column finds a column by name, case-insensitively (as DAX does).
func (t *table) column(name string) *Column { return columnIn(t.columns, name) }

// largeTier reports whether a retention-None table holds at least limit rows.
func (d *dataset) largeTier(limit int) bool {
	if d.retention != RetentionNone {
		return false
	}
	for _, t := range d.tables {
		if t.count() >= limit {
			return true
		}
	}
	return false
}

// noteRows adds n accepted rows to the per-minute chart series, keeping the last hour.
func (d *dataset) noteRows(now time.Time, n int64) {
	m := now.Truncate(time.Minute)
	if k := len(d.perMinute); k > 0 && d.perMinute[k-1].Minute.Equal(m) {
		d.perMinute[k-1].Rows += n
	} else {
		d.perMinute = append(d.perMinute, MinuteRows{Minute: m, Rows: n})
	}
	cut := 0
	for cut < len(d.perMinute) && now.Sub(d.perMinute[cut].Minute) > time.Hour {
		cut++
	}
	d.perMinute = d.perMinute[cut:]
}

package admin

import (
	"slices"
	"strings"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// SpoolAdmin is what the live spool API and `pbi-pusher spool` read and change (*spool.Spool
// implements it).
type SpoolAdmin interface {
	Path() string
	Stats() spool.Stats
	InFlight(q spool.QueueKey) int
	FindDeadLetters(f spool.DeadFilter) ([]spool.DeadLetter, bool, error)
	ReplayDeadLetters(f spool.DeadFilter) (int, error)
	PurgeDeadLetters(f spool.DeadFilter) (int, error)
}

// QueueView is one table's backlog in SpoolView.
type QueueView struct {
	Dataset      string    `json:"dataset"`
	Table        string    `json:"table"`
	Rows         int       `json:"rows"`
	Bytes        int64     `json:"bytes"`
	InFlight     int       `json:"in_flight"`
	Oldest       time.Time `json:"oldest,omitzero"`
	OldestAgeSec float64   `json:"oldest_age_seconds"`
}

// SpoolView is `pbi-pusher spool stats -json` and GET /api/v1/spool: the same document whether
// the command opened the file or asked the running agent.
type SpoolView struct {
	Path        string      `json:"path"`
	Queues      []QueueView `json:"queues"`
	InFlight    int         `json:"in_flight"`
	DeadLetters int         `json:"dead_letters"`
	Bytes       int64       `json:"bytes"`
	MaxBytes    int64       `json:"max_bytes"`
	FileBytes   int64       `json:"file_bytes"`
	Dropped     int64       `json:"dropped"`
	Requeued    int64       `json:"requeued_after_crash"`
	Quarantined int         `json:"quarantined"`
	DeadEvicted int64       `json:"dead_letters_evicted"` // by spool.dead_letter_max_bytes
	DiskFull    bool        `json:"disk_full"`            // ingest paused: less than spool.reserve_bytes free
	// Checking: opened after an unclean stop, the file's check runs in the background; row and
	// byte counts are estimates until it ends.
	Checking bool `json:"checking,omitempty"`
}

// ViewSpool takes a SpoolView of s at now.
func ViewSpool(s SpoolAdmin, now time.Time) SpoolView {
	st := s.Stats()
	out := SpoolView{Path: s.Path(), Queues: []QueueView{}, InFlight: st.InFlight, DeadLetters: st.DeadLetters,
		Bytes: st.Bytes, MaxBytes: st.MaxBytes, FileBytes: st.FileBytes, Dropped: st.Dropped,
		Requeued: st.Requeued, Quarantined: st.Quarantined, DeadEvicted: st.DeadEvicted, DiskFull: st.DiskFull,
		Checking: st.Checking}
	for q, b := range st.Queues {
		r := QueueView{Dataset: q.Dataset, Table: q.Table, Rows: b.Rows, Bytes: b.Bytes, InFlight: s.InFlight(q), Oldest: b.Oldest}
		if !b.Oldest.IsZero() {
			r.OldestAgeSec = max(0, now.Sub(b.Oldest).Seconds())
		}
		out.Queues = append(out.Queues, r)
	}
	slices.SortFunc(out.Queues, func(a, b QueueView) int {
		return strings.Compare(a.Dataset+"/"+a.Table, b.Dataset+"/"+b.Table)
	})
	return out
}

// DeadLetterView is one dead letter in the API and `spool dead-letters -json`.
type DeadLetterView struct {
	ID          uint64    `json:"id"`
	Dataset     string    `json:"dataset,omitempty"`
	Table       string    `json:"table,omitempty"`
	Destination string    `json:"destination,omitempty"`
	Position    string    `json:"position,omitempty"`
	Reason      string    `json:"reason"`
	At          time.Time `json:"at"`
	Data        string    `json:"data"`
}

// DeadLetterPage is one page of GET /api/v1/dead-letters. Next is the `after` of the next page,
// 0 when this is the last.
type DeadLetterPage struct {
	DeadLetters []DeadLetterView `json:"dead_letters"`
	Next        uint64           `json:"next,omitempty"`
}

// ViewDeadLetters converts dead letters for output.
func ViewDeadLetters(ds []spool.DeadLetter) []DeadLetterView {
	out := make([]DeadLetterView, len(ds))
	for i, d := range ds {
		out[i] = DeadLetterView{ID: d.ID, Dataset: d.Queue.Dataset, Table: d.Queue.Table, Destination: d.Destination,
			Position: d.Position, Reason: d.Reason, At: d.At, Data: string(d.Data)}
	}
	return out
}

// FindDeadLetterPage reads one page of f from s.
func FindDeadLetterPage(s SpoolAdmin, f spool.DeadFilter) (DeadLetterPage, error) {
	ds, more, err := s.FindDeadLetters(f)
	if err != nil {
		return DeadLetterPage{}, err
	}
	p := DeadLetterPage{DeadLetters: ViewDeadLetters(ds)}
	if more && len(ds) > 0 {
		p.Next = ds[len(ds)-1].ID
	}
	return p, nil
}

// ParseTableRef splits "Dataset/Table" or "Table" for a dead-letter filter.
func ParseTableRef(ref string) (dataset, table string) {
	if ds, t, ok := strings.Cut(ref, "/"); ok {
		return ds, t
	}
	return "", ref
}

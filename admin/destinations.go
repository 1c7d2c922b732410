package admin

import "time"

// DestinationStatus is one destination besides the Power BI datasets (an eventstream) in
// /status and /metrics.
type DestinationStatus struct {
	Name   string             `json:"name"` // eventstream/NAME
	Budget *BudgetStatus      `json:"budget,omitempty"`
	Tables []DestinationTable `json:"tables"`
}

// DestinationTable is one table delivered to a destination.
type DestinationTable struct {
	Dataset      string `json:"dataset"`
	Table        string `json:"table"`
	Delivered    int64  `json:"delivered"`      // rows the destination acknowledged, over the spool file's life
	BacklogRows  int    `json:"backlog_rows"`   // rows waiting for it (not in flight)
	InFlightRows int    `json:"in_flight_rows"` // rows sent and not yet answered
}

// DestinationSnapshot is what Sources.Destinations reports of one destination.
type DestinationSnapshot struct {
	Name       string
	Dispatcher DispatcherReader // nil before it runs
	Tables     []DestinationTable
}

// destinations converts the snapshots for Status.
func destinations(now time.Time, snaps []DestinationSnapshot) []DestinationStatus {
	out := make([]DestinationStatus, 0, len(snaps))
	for _, s := range snaps {
		d := DestinationStatus{Name: s.Name, Tables: s.Tables}
		if s.Dispatcher != nil {
			d.Budget = budgetStatus(now, s.Dispatcher.Usage(), s.Dispatcher.Stats())
		}
		out = append(out, d)
	}
	return out
}

// destination emits one destination's metrics.
func (e emitter) destination(d DestinationStatus) {
	for _, t := range d.Tables {
		e.emit("destination_rows_delivered_total", float64(t.Delivered), d.Name, t.Dataset, t.Table)
		e.emit("destination_backlog_rows", float64(t.BacklogRows), d.Name, t.Dataset, t.Table)
		e.emit("destination_in_flight_rows", float64(t.InFlightRows), d.Name, t.Dataset, t.Table)
	}
	if b := d.Budget; b != nil {
		for _, k := range sortedKeys(b.Posts) {
			e.emit("destination_sends_total", float64(b.Posts[k]), d.Name, k)
		}
		e.emit("destination_paused_seconds", b.PausedSeconds, d.Name)
	}
}

package admin

import "github.com/pbi-pusher/pbi-pusher/batcher"

// DrainStatus is when the dataset's spooled backlog will have drained, from the drain model the
// dry-run plan and the backfill progress use (batcher.ForecastDrain), started from the
// dispatcher's windows, observed round trip, 429 multiplier and pause.
type DrainStatus struct {
	BacklogRows  int64   `json:"backlog_rows"`
	ETASeconds   float64 `json:"eta_seconds"`
	Posts        int64   `json:"posts"`
	Binding      string  `json:"binding,omitempty"`     // the limit that accounts for most of the wait
	BindingNow   string  `json:"binding_now,omitempty"` // the limit the next POST waits for
	RowsPerHour  float64 `json:"rows_per_hour"`         // the model's delivery rate over the drain
	LargeTier    bool    `json:"large_tier"`
	TierAfterRow int64   `json:"large_tier_after_rows"` // -1: never during this drain
}

// forecaster is a dispatcher that can start a forecast (*batcher.Dispatcher).
type forecaster interface {
	ForecastInput() batcher.ForecastInput
}

func drainStatus(d DispatcherReader) *DrainStatus {
	f, ok := d.(forecaster)
	if !ok {
		return nil
	}
	in := f.ForecastInput()
	var backlog int64
	for _, t := range in.Tables {
		backlog += t.Backlog
	}
	fc := batcher.ForecastDrain(in)
	return &DrainStatus{BacklogRows: backlog, ETASeconds: fc.Duration.Seconds(), Posts: fc.Posts, Binding: fc.Binding,
		BindingNow: fc.BindingNow, RowsPerHour: fc.RowsPerHour, LargeTier: fc.LargeTierAfter == 0, TierAfterRow: fc.LargeTierAfter}
}

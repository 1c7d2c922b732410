package admin

import "testing"

// An eventstream destination has metrics of its own: rows delivered, waiting and in flight per
// table, sends by outcome and its pause; /status lists it.
func TestDestinationMetricsAndStatus(t *testing.T) {
	f := newFixture(t)
	fams := scrape(t, f.base)
	lt := []string{"destination", "eventstream/fabric", "dataset", "Telemetry", "table", "Readings"}
	for name, want := range map[string]float64{
		"pbi_pusher_destination_rows_delivered_total": 7,
		"pbi_pusher_destination_backlog_rows":         3,
		"pbi_pusher_destination_in_flight_rows":       2,
	} {
		if got, ok := value(fams, name, lt...); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if _, ok := value(fams, "pbi_pusher_destination_sends_total", "destination", "eventstream/fabric", "outcome", "ok"); !ok {
		t.Error("pbi_pusher_destination_sends_total{outcome=ok} missing")
	}
	st := f.m.Status()
	if len(st.Destinations) != 1 || st.Destinations[0].Name != "eventstream/fabric" || st.Destinations[0].Budget == nil ||
		st.Destinations[0].Tables[0].Delivered != 7 {
		t.Errorf("status destinations %+v", st.Destinations)
	}
}

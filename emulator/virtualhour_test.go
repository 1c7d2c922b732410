package emulator_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// oneColumn is a dataset with one Int64 column, so large pushes stay cheap.
func oneColumn(name string) string {
	return `{"name":"` + name + `","tables":[{"name":"T","columns":[{"name":"v","dataType":"Int64"}]}]}`
}

func intRows(n int) string {
	return `{"rows":[` + strings.TrimSuffix(strings.Repeat(`{"v":1},`, n), ",") + `]}`
}

type hourRun struct {
	t   *testing.T
	e   *emulatortest.Emulator
	clk *clock
}

// post sends body to dataset id at virtual offset at and checks status and Retry-After.
func (h hourRun) post(start time.Time, at time.Duration, id, body string, status int, retryAfter string) {
	h.t.Helper()
	h.clk.mu.Lock()
	h.clk.now = start.Add(at)
	h.clk.mu.Unlock()
	r := call(h.t, h.e, "POST", "datasets/"+id+"/tables/T/rows", body, h.e.Token)
	if r.status != status || r.retryAfter != retryAfter {
		h.t.Fatalf("t=%v: got %d Retry-After %q, want %d %q: %.200s", at, r.status, r.retryAfter, status, retryAfter, r.body)
	}
}

// TestVirtualHourPostsAndLargeTableSwitch runs an hour of virtual time with Power BI's
// default limits: 120 POSTs per rolling minute, then the switch to 120 POSTs per rolling hour
// once a retention-None table holds 250,000 rows, and the window reopening an hour later.
func TestVirtualHourPostsAndLargeTableSwitch(t *testing.T) {
	clk := newClock()
	start := clk.Now()
	e := emulatortest.Start(t, emulator.Options{Now: clk.Now})
	h := hourRun{t: t, e: e, clk: clk}
	id := create(t, e, "datasets?defaultRetentionPolicy=None", oneColumn("Large"))
	half := 500 * time.Millisecond
	for i := range 120 { // 120 POSTs in the first minute, every 0.5 s
		h.post(start, time.Duration(i)*half, id, intRows(1), 200, "")
	}
	h.post(start, 59*time.Second+750*time.Millisecond, id, intRows(1), 429, "1") // first post leaves at 60 s
	big := intRows(10000)
	for i := range 25 { // 145 POSTs in the hour are fine while the table is small
		h.post(start, 60*time.Second+time.Duration(i)*time.Second, id, big, 200, "")
	}
	// The table now holds 250,120 rows: 120 POSTs per rolling hour apply. 145 are in the
	// window; the 26th-oldest (t=12.5 s) must leave first: at 3612.5 s, 3527.5 s from t=85 s.
	h.post(start, 85*time.Second, id, intRows(1), 429, "3528")
	h.post(start, 30*time.Minute, id, intRows(1), 429, "1813")
	h.post(start, time.Hour+12*time.Second, id, intRows(1), 429, "1")
	h.post(start, time.Hour+12500*time.Millisecond, id, intRows(1), 200, "")
	h.post(start, time.Hour+12500*time.Millisecond, id, intRows(1), 429, "1")

	st := e.Server.DatasetsByName("Large")[0]
	want := map[string]int64{emulator.ReasonPostsPerMinute: 1, emulator.ReasonPostsPerHour: 4}
	if fmt.Sprint(st.Throttles) != fmt.Sprint(want) || st.PeakPostsPerMinute != 120 || st.PeakPostsPerHour != 145 ||
		st.Tables[0].Rows != 250121 {
		t.Fatalf("stats: throttles %v peak/min %d peak/hour %d rows %d", st.Throttles, st.PeakPostsPerMinute,
			st.PeakPostsPerHour, st.Tables[0].Rows)
	}
}

// TestVirtualHourRowsPerHour pushes 1,000,000 rows into a basicFIFO dataset (which never
// switches to the hourly POST tier) and checks the rows-per-hour window and FIFO retention.
func TestVirtualHourRowsPerHour(t *testing.T) {
	clk := newClock()
	start := clk.Now()
	e := emulatortest.Start(t, emulator.Options{Now: clk.Now})
	h := hourRun{t: t, e: e, clk: clk}
	id := create(t, e, "datasets?defaultRetentionPolicy=basicFIFO", oneColumn("Fifo"))
	big := intRows(10000)
	for i := range 100 { // 1,000,000 rows, one POST every 30 s
		h.post(start, time.Duration(i)*30*time.Second, id, big, 200, "")
	}
	h.post(start, 50*time.Minute, id, intRows(1), 429, "600") // first 10,000 leave at 60 min
	h.post(start, 59*time.Minute+59*time.Second+1, id, intRows(10000), 429, "1")
	h.post(start, time.Hour, id, intRows(10000), 200, "")
	h.post(start, time.Hour, id, intRows(1), 429, "30")

	st := e.Server.DatasetsByName("Fifo")[0]
	if st.PeakRowsPerHour != 1000000 || st.Throttles[emulator.ReasonRowsPerHour] != 3 || st.Rows != 1010000 {
		t.Fatalf("stats: peak rows/hour %d throttles %v rows %d", st.PeakRowsPerHour, st.Throttles, st.Rows)
	}
	if tb := st.Tables[0]; tb.Rows != emulator.DefaultFIFORows || tb.Evicted != 810000 {
		t.Fatalf("FIFO table holds %d rows, evicted %d; want 200000 and 810000", tb.Rows, tb.Evicted)
	}
}

package e2e

import (
	"testing"
	"time"
)

// Issue 15, hourly limits across rebalances: instances of one group on a 12-partition topic
// with a backlog, rows per hour scaled down so that it binds at once (1,200 rows per hour: 12
// POSTs of 100 rows, a fifth of a minute's 60). The first instance holds every partition alone
// and posts; two join (8 partitions change hands); the first is killed (kill -9) and one more
// joins (its 4 partitions change hands again). Every partition that changes hands would let its
// new holder spend its part of the hour again while its previous holder's rows still count at
// the service (the per-instance rolling hours did: 2,400 rows in the hour). With the cells'
// token buckets (batcher/hourly.go) the emulator sees no rolling hour over the limit and answers
// no 429, through the minute after which the new holders' partitions count.
func TestHourlyLimitsAcrossRebalanceE2E(t *testing.T) {
	t.Parallel()
	lim := limits{rowsPerPost: 100, postsPerMinute: 60, rowsPerHour: 1_200, pending: 5}
	// The first instance alone holds every partition and reads the first backlog.
	g := newScaleGroupLimits(t, "hourly", 1_500, lim)
	g.startAll(1)
	g.awaitSplit(g.procs)
	ingestEventually(t, 30*time.Second, "the first instance's POSTs", func() bool { return ingestStored(g.emu) > 0 })
	time.Sleep(5 * time.Second) // it spends what it may (not a sync point: any amount is a valid test)
	g.start()
	g.start()
	g.awaitSplit(g.procs)
	g.procs[0].kill9(t)
	g.start()
	g.awaitSplit(g.procs[1:])
	// Rows for the new holders (the first instance read the first backlog into its spool).
	s := ingestMessages(1_500, 6_000, 0)
	ingestAwaitProduced(t, ingestProduce(g.addrs, nil, g.topic, s.msgs, 5000, 0), 60*time.Second)
	// The partitions taken over count for POSTs per minute after a minute (share.go); the
	// buckets of the new holders start filling then.
	time.Sleep(65 * time.Second)
	g.dump()
	st := datasetStats(t, g.emu)
	t.Logf("emulator: %d POSTs, %d rows, peak %d rows/h (limit %d), peak %d POSTs/min, peak pending %d, throttles %v, violations %v",
		st.Posts, st.Rows, st.PeakRowsPerHour, lim.rowsPerHour, st.PeakPostsPerMinute, st.PeakPending, st.Throttles, st.Violations)
	if st.Throttled != 0 || len(st.Violations) != 0 || st.PeakRowsPerHour > int64(lim.rowsPerHour) ||
		st.PeakPostsPerMinute > int64(lim.postsPerMinute) || st.PeakPending > lim.pending {
		t.Errorf("limits exceeded: %d 429s %v, violations %v, peak %d rows/h (limit %d), %d POSTs/min (limit %d), %d pending (limit %d)",
			st.Throttled, st.Throttles, st.Violations, st.PeakRowsPerHour, lim.rowsPerHour, st.PeakPostsPerMinute,
			lim.postsPerMinute, st.PeakPending, lim.pending)
	}
	// A first generation starts with full buckets: 1/12 of the hour is 100 rows per partition, of
	// which a bucket holds 10 (the rows one of the large tier's 120 POSTs per hour carries), so
	// the first instance posts 120 rows at once, and the buckets refill at 90 rows per hour each.
	if st.Rows < 100 {
		t.Errorf("%d rows stored: the first instance did not post its buckets", st.Rows)
	}
}

package kafkasrc

import (
	"testing"
	"time"
)

// TestLagPerOwnedPartition: while the spool refuses writes the owned partitions report their
// backlog (high watermark − next unspooled offset, summing to what is not spooled); once
// everything is spooled every partition reports 0; after Run returns nothing is reported.
func TestLagPerOwnedPartition(t *testing.T) {
	const n = 3000
	topic, group := "lag", "g-lag"
	c := newCluster(t, topic)
	produce(t, nil, c.ListenAddrs(), topic, 0, n)
	led := newLedger()
	e := newEnv(t)
	rec := newRecorder(led, e.w)
	release := make(chan struct{})
	rec.fullAt(1, release) // after the first write, every write blocks until release
	r := start(t, sourceConfig(c.ListenAddrs(), topic, group), testOptions(t, rec, e))

	total := func() (sum int64, parts int) {
		for _, pl := range r.src.Lag() {
			if pl.Topic != topic || pl.Lag < 0 {
				t.Fatalf("bad lag entry %+v", pl)
			}
			sum += pl.Lag
			parts++
		}
		return sum, parts
	}
	eventually(t, 30*time.Second, "lag of all 6 partitions while the spool is full", func() bool {
		sum, parts := total()
		return parts == testPartitions && sum == int64(n-rec.ownRows())
	})
	sum, _ := total()
	t.Logf("lag while blocked: %d over %d partitions (%d rows spooled)", sum, testPartitions, rec.ownRows())
	if sum == 0 {
		t.Fatal("lag 0 while the spool is full")
	}
	close(release)
	await(t, led.reached(n), 30*time.Second, "all records spooled")
	eventually(t, 10*time.Second, "lag 0 everywhere after catching up", func() bool {
		sum, parts := total()
		return parts == testPartitions && sum == 0
	})
	r.stop(t)
	if got := r.src.Lag(); len(got) != 0 {
		t.Errorf("lag after Run returned: %+v, want none", got)
	}
}

package kafkasrc

import (
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestSpoolsEverythingOnce: 200,000 records over 6 partitions are each spooled exactly once
// and the group's commits end equal to the high watermarks.
func TestSpoolsEverythingOnce(t *testing.T) {
	const n = 200_000
	topic, group := "events", "g-all"
	c := newCluster(t, topic)
	produce(t, nil, c.ListenAddrs(), topic, 0, n)
	led := newLedger()
	e := newEnv(t)
	rec := newRecorder(led, e.w)
	began := time.Now()
	r := start(t, sourceConfig(c.ListenAddrs(), topic, group), testOptions(t, rec, e))
	await(t, led.reached(n), 3*time.Minute, "all records spooled")
	t.Logf("spooled %d records in %v", n, time.Since(began))
	awaitCommitted(t, c, group, topic)
	r.stop(t)
	led.check(t, n)
	checkSpooled(t, n, e)
	if len(led.sources) != testPartitions {
		t.Errorf("sources: %v, want %d topic/partition names", led.sources, testPartitions)
	}
	if behind := partitionsBehind(t, e, c, group, topic); behind != 0 {
		t.Errorf("%d partition(s) with spool checkpoint != commit after a clean stop", behind)
	}
	st := r.src.Stats()
	if st.Messages != n || st.Rows != n || st.Rejected != 0 {
		t.Errorf("stats %+v, want %d messages and rows", st, n)
	}
}

// TestCrashResumesFromSpoolCheckpoint: a source dies between a spool write and its commit
// (network cut, no final commit, no LeaveGroup). A new member of the group loses nothing and,
// because it resumes at the spool checkpoint, spools nothing twice.
func TestCrashResumesFromSpoolCheckpoint(t *testing.T) {
	const n = 30_000
	topic, group := "crash", "g-crash"
	c := newCluster(t, topic)
	produce(t, nil, c.ListenAddrs(), topic, 0, n)
	led := newLedger()
	e := newEnv(t)
	rec := newRecorder(led, e.w)
	wire := &cuttableDialer{}
	opts := testOptions(t, rec, e)
	opts.Dialer = &kafka.Dialer{Timeout: 5 * time.Second, DialFunc: wire.dial}
	opts.BatchSize = 200

	var once sync.Once
	crashed := make(chan struct{})
	var first *running
	rec.afterWrite = func() {
		if led.distinct() < n/3 {
			return
		}
		once.Do(func() { // durable in the spool, not yet committed: die now
			rec.crash()
			wire.cutAll()
			first.cancel()
			close(crashed)
		})
	}
	first = start(t, sourceConfig(c.ListenAddrs(), topic, group), opts)
	await(t, crashed, time.Minute, "crash")
	first.stop(t)
	behind := partitionsBehind(t, e, c, group, topic)
	if behind == 0 {
		t.Fatalf("no partition has its spool checkpoint ahead of the group commit; the test proves nothing")
	}
	t.Logf("after crash: %d ids spooled, %d partition(s) with checkpoint ahead of commit", led.distinct(), behind)

	e.reopen() // the restarted process opens the same spool file
	second := start(t, sourceConfig(c.ListenAddrs(), topic, group), testOptions(t, newRecorder(led, e.w), e))
	await(t, led.reached(n), time.Minute, "all records after restart")
	awaitCommitted(t, c, group, topic)
	second.stop(t)
	led.check(t, n)
	checkSpooled(t, n, e)
}

// TestTwoMembersSplitAndRebalance: a second member joining mid-stream takes half the
// partitions (3/3, share 0.5 each); when it leaves mid-stream the first takes everything back
// (share 1). Nothing is lost and nothing spooled twice across both rebalances, with each
// instance on its own spool.
func TestTwoMembersSplitAndRebalance(t *testing.T) {
	const n = 60_000
	topic, group := "split", "g-split"
	c := newCluster(t, topic)
	produce(t, nil, c.ListenAddrs(), topic, 0, n)
	led := newLedger()
	envA, envB := newEnv(t), newEnv(t)
	recA, recB := newRecorder(led, envA.w), newRecorder(led, envB.w)
	releaseA := make(chan struct{})
	recA.fullAt(n/6, releaseA) // A's spool fills: it holds its partitions without progress
	recB.fullAt(n/6, nil)      // B's spool fills for good: it leaves with work left
	shareA, shareB := newShares(), newShares()
	optsA := testOptions(t, recA, envA)
	optsA.OnShare = shareA.add
	optsB := testOptions(t, recB, envB)
	optsB.OnShare = shareB.add

	aAll, aHalf, bHalf := shareA.next(1), shareA.next(0.5), shareB.next(0.5)
	a := start(t, sourceConfig(c.ListenAddrs(), topic, group), optsA)
	await(t, aAll, 20*time.Second, "A owns all partitions")
	await(t, led.reached(n/6), 30*time.Second, "A spooled n/6")
	b := start(t, sourceConfig(c.ListenAddrs(), topic, group), optsB)
	await(t, aHalf, 20*time.Second, "A share 0.5")
	await(t, bHalf, 20*time.Second, "B share 0.5")
	checkSplit(t, c, group)
	close(releaseA)
	eventually(t, 30*time.Second, "B spooled n/6", func() bool { return recB.ownRows() >= n/6 })
	aAllAgain := shareA.next(1)
	b.stop(t)
	await(t, aAllAgain, 20*time.Second, "A back to share 1 after B left")
	await(t, led.reached(n), time.Minute, "all records")
	awaitCommitted(t, c, group, topic)
	a.stop(t)
	led.check(t, n)
	checkSpooled(t, n, envA, envB)
	t.Logf("A: %+v shares %v; B: %+v shares %v", a.src.Stats(), shareA.all(), b.src.Stats(), shareB.all())
}

func checkSplit(t *testing.T, c *kfake.Cluster, group string) {
	t.Helper()
	gi := c.GroupInfo(group)
	if gi == nil || len(gi.Members) != 2 {
		t.Fatalf("group: %+v, want 2 members", gi)
	}
	for _, m := range gi.Members {
		if m.NumAssigned() != testPartitions/2 {
			t.Errorf("member %s owns %v, want %d partitions", m.MemberID, m.Assignment, testPartitions/2)
		}
	}
}

func awaitCommitted(t *testing.T, c *kfake.Cluster, group, topic string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, diff := committedAll(c, group, topic)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("commits != high watermarks after 10s:%s", diff)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// partitionsBehind counts partitions whose spool checkpoint differs from the group commit.
func partitionsBehind(t *testing.T, cp CheckpointReader, c *kfake.Cluster, group, topic string) int {
	t.Helper()
	gi := c.GroupInfo(group)
	behind := 0
	for p := range testPartitions {
		b, err := cp.Meta(checkpointKey(group, topic, p))
		if err != nil {
			t.Fatal(err)
		}
		cp, _, err := decodeCheckpoint(b)
		if err != nil {
			t.Fatal(err)
		}
		var committed int64
		if gi != nil {
			committed = gi.Commits[topic][int32(p)].Offset
		}
		if cp != committed {
			behind++
		}
	}
	return behind
}

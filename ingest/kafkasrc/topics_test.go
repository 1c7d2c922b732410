package kafkasrc

import (
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestSharesOverTopics: with topics of 6 and 3 partitions, two members own 5 and 4 of the 9
// partitions; their shares are 5/9 and 4/9 (summing to 1), and both topics are spooled fully
// with a checkpoint per topic/partition.
func TestSharesOverTopics(t *testing.T) {
	const n = 3000
	group := "g-topics"
	c := newCluster(t, "a", kfake.SeedTopics(3, "b"))
	produce(t, nil, c.ListenAddrs(), "a", 0, n)
	produce(t, nil, c.ListenAddrs(), "b", n, 2*n)
	cfg := sourceConfig(c.ListenAddrs(), "", group)
	cfg.Topics = []string{"a", "b"}
	led := newLedger()
	envs := []*env{newEnv(t), newEnv(t)}
	sh := []*shares{newShares(), newShares()}
	first := start(t, cfg, withShare(testOptions(t, newRecorder(led, envs[0].w), envs[0]), sh[0]))
	second := start(t, cfg, withShare(testOptions(t, newRecorder(led, envs[1].w), envs[1]), sh[1]))
	if _, err := c.WaitGroupStable(t.Context(), group, 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "shares 5/9 and 4/9", func() bool {
		a, b := sh[0].last(), sh[1].last()
		return near(a+b, 1) && (near(a, 5.0/9) || near(a, 4.0/9))
	})
	await(t, led.reached(2*n), time.Minute, "both topics")
	awaitCommitted(t, c, group, "a")
	awaitCommitted(t, c, group, "b")
	first.stop(t)
	second.stop(t)
	led.check(t, 2*n)
	checkSpooled(t, 2*n, envs...)
	if len(led.sources) != 9 {
		t.Errorf("sources %v, want 9 topic/partition names", led.sources)
	}
}

func withShare(o Options, s *shares) Options {
	o.OnShare = s.add
	return o
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

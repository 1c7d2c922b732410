package kafkasrc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pbi-pusher/pbi-pusher/config"
)

const testPartitions = 6

// newCluster starts an in-process Kafka broker (real TCP) with one 6-partition topic.
func newCluster(t *testing.T, topic string, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	base := []kfake.Opt{
		kfake.NumBrokers(2),
		kfake.SeedTopics(testPartitions, topic),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}
	c, err := kfake.NewCluster(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// produce writes ids [from, to) as {"id":N} values, round-robin over the partitions.
func produce(t *testing.T, tr *kafka.Transport, addrs []string, topic string, from, to int) {
	t.Helper()
	w := &kafka.Writer{
		Addr: kafka.TCP(addrs...), Topic: topic,
		Balancer: &kafka.RoundRobin{}, BatchSize: 1000, BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
	}
	if tr != nil {
		w.Transport = tr
	}
	defer w.Close()
	const chunk = 5000
	for lo := from; lo < to; lo += chunk {
		msgs := make([]kafka.Message, 0, chunk)
		for id := lo; id < min(lo+chunk, to); id++ {
			msgs = append(msgs, kafka.Message{Value: []byte(`{"id":` + strconv.Itoa(id) + `}`)})
		}
		produceValues(t, w, msgs)
	}
}

func produceValues(t *testing.T, w *kafka.Writer, msgs []kafka.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// testOptions are short timings for an in-process broker. The session and rebalance timeouts
// stay at Kafka's 6 s minimum default: the whole CI runs with -race on 2 cores, where a member
// starved for a second lost its session (and its partitions) over and over.
func testOptions(t *testing.T, w RecordWriter, cp CheckpointReader) Options {
	return Options{
		Writer: w, Checkpoints: cp, Logger: testLogger(t),
		MaxWait: 200 * time.Millisecond, SessionTimeout: 6 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
		RebalanceTimeout: 6 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
		CommitTimeout: 2 * time.Second, Linger: 20 * time.Millisecond,
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

func sourceConfig(addrs []string, topic, group string) config.Source {
	return config.Source{Type: "kafka", Brokers: addrs, Topic: topic, Group: group, Start: "earliest"}
}

// running is a Source started in the background.
type running struct {
	src    *Source
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg config.Source, opts Options) *running {
	t.Helper()
	src, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{src: src, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the source and waits for Run (once; later calls return at once).
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Run did not return 20s after cancel")
	}
}

func await(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// committedAll reports whether the group's commits equal every partition's high watermark.
func committedAll(c *kfake.Cluster, group, topic string) (bool, string) {
	gi := c.GroupInfo(group)
	if gi == nil {
		return false, "no group"
	}
	var diff string
	for _, pi := range c.PartitionInfos(topic) {
		got := gi.Commits[topic][pi.Partition].Offset
		if got != pi.HighWatermark {
			diff += fmt.Sprintf(" p%d: committed %d, hwm %d;", pi.Partition, got, pi.HighWatermark)
		}
	}
	return diff == "", diff
}

// cuttableDialer dials through net.Dialer until cut, which closes every connection and
// refuses new ones: the network view of a process killed without goodbye.
type cuttableDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (d *cuttableDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errors.New("network cut")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cuttableDialer) cutAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		_ = c.Close()
	}
}

package kafkasrc

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestMalformedRecordsFlowOn: malformed values reach the writer as records with an error (Err,
// or Decoded's for an object left to the writer to decode), Raw and their offset (the writer dead-letters them as topic/partition@offset); every good row in the
// same partitions, before and after them, is spooled, arrays give one row per element, and
// offsets are committed past the bad ones.
func TestMalformedRecordsFlowOn(t *testing.T) {
	topic, group := "mixed", "g-mixed"
	c := newCluster(t, topic)
	msgs, ids, wantBad := mixedMessages(1200)
	w := &kafka.Writer{Addr: kafka.TCP(c.ListenAddrs()...), Topic: topic, Balancer: &kafka.RoundRobin{},
		BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	produceValues(t, w, msgs)
	_ = w.Close()

	led := newLedger()
	e := newEnv(t)
	rec := newRecorder(led, e.w)
	r := start(t, sourceConfig(c.ListenAddrs(), topic, group), testOptions(t, rec, e))
	await(t, led.reached(ids), 30*time.Second, "good rows")
	awaitCommitted(t, c, group, topic)
	r.stop(t)
	led.check(t, ids)
	checkSpooled(t, ids, e)
	checkBad(t, led, wantBad, topic)
	checkDeadLetters(t, e, wantBad, topic)
	if st := r.src.Stats(); st.Rejected != int64(wantBad) || st.Messages != int64(len(msgs)) {
		t.Errorf("stats %+v, want %d rejected of %d messages", st, wantBad, len(msgs))
	}
}

// mixedMessages interleaves good objects, arrays of objects and malformed values.
func mixedMessages(count int) (msgs []kafka.Message, ids, bad int) {
	obj := func() string { ids++; return `{"id":` + strconv.Itoa(ids-1) + `}` }
	for i := range count {
		var v string
		switch i % 10 {
		case 3:
			v, bad = `{"id":`, bad+1
		case 5:
			v = "[" + obj() + "," + obj() + "]"
		case 7:
			v, bad = "["+obj()+`,"not an object"]`, bad+1
		case 8:
			v, bad = ``, bad+1
		default:
			v = obj()
		}
		msgs = append(msgs, kafka.Message{Value: []byte(v)})
	}
	return msgs, ids, bad
}

func checkBad(t *testing.T, led *ledger, want int, topic string) {
	t.Helper()
	led.mu.Lock()
	defer led.mu.Unlock()
	if len(led.bad) != want {
		t.Fatalf("bad records: %d, want %d", len(led.bad), want)
	}
	for _, r := range led.bad {
		if _, err := r.Decoded(); r.Offset < 0 || r.Line != 0 || !strings.HasPrefix(err.Error(), "kafka value:") {
			t.Errorf("bad record without position or reason: %+v", r)
		}
	}
	for s := range led.sources {
		if !strings.HasPrefix(s, topic+"/") {
			t.Errorf("source name %q, want %s/<partition>", s, topic)
		}
	}
}

// checkDeadLetters: the spool holds one dead letter per bad record, with its raw input, its
// topic/partition@offset position and a reason.
func checkDeadLetters(t *testing.T, e *env, want int, topic string) {
	t.Helper()
	dls, err := e.h.S.DeadLetters(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != want {
		t.Fatalf("dead letters: %d, want %d", len(dls), want)
	}
	pos := regexp.MustCompile(`^` + topic + `/[0-5]@[0-9]+$`)
	for _, d := range dls {
		if !pos.MatchString(d.Position) || d.Reason == "" || d.Queue != testQueue {
			t.Errorf("dead letter %+v: want position %s/<partition>@<offset> and a reason", d, topic)
		}
	}
	t.Logf("dead letter example: position %s reason %q data %q", dls[0].Position, dls[0].Reason, dls[0].Data)
}

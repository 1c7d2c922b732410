package kafkasrc

import (
	"context"
	"errors"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
)

type fakeCommitter struct {
	fail    bool
	commits []int64
}

func (f *fakeCommitter) CommitOffsets(o map[string]map[int]int64) error {
	if f.fail {
		return errors.New("coordinator gone")
	}
	f.commits = append(f.commits, o["t"][2])
	return nil
}

type failingWriter struct{ err error }

func (f failingWriter) Write(context.Context, string, []ingest.Record, map[string][]byte) (ingest.Result, error) {
	return ingest.Result{}, f.err
}

func testWorker(t *testing.T, w RecordWriter, fc *fakeCommitter, committed int64) (*partitionWorker, *error) {
	src, err := New(config.Source{Brokers: []string{"x:1"}, Topic: "t", Group: "g"},
		Options{Writer: w, Checkpoints: metaMap{}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var fatal error
	pw := &partitionWorker{src: src, topic: "t", partition: 2, committed: committed, spooled: -1, commits: fc,
		fail: func(err error) { fatal = err }}
	return pw, &fatal
}

// TestCommitOnlyWhatIsSpooled: nothing spooled → no commit (not even of a negative offset);
// a failed commit is made up by the next one; a failed write commits nothing and is fatal
// only while the generation lives.
func TestCommitOnlyWhatIsSpooled(t *testing.T) {
	fc := &fakeCommitter{}
	led := newLedger()
	pw, fatal := testWorker(t, newRecorder(led, failingWriter{}), fc, kafka.FirstOffset)
	pw.commitSpooled()
	if len(fc.commits) != 0 {
		t.Fatalf("committed %v with nothing spooled", fc.commits)
	}
	msgs := []kafka.Message{{Offset: 10, Value: []byte(`{"id":1}`)}, {Offset: 11, Value: []byte(`{"id":2}`)}}
	fc.fail = true
	if !pw.spool(t.Context(), msgs) {
		t.Fatal("spool failed")
	}
	pw.commitSpooled()
	fc.fail = false
	pw.commitSpooled() // the final commit of a generation catches up
	pw.commitSpooled()
	if len(fc.commits) != 1 || fc.commits[0] != 12 || *fatal != nil {
		t.Fatalf("commits %v fatal %v, want [12]", fc.commits, *fatal)
	}

	bad, fatal2 := testWorker(t, failingWriter{errors.New("disk gone")}, fc, 12)
	if bad.spool(t.Context(), msgs) || *fatal2 == nil {
		t.Fatalf("failed write: want stop and fatal error, got %v", *fatal2)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	bad3, fatal3 := testWorker(t, failingWriter{context.Canceled}, fc, 12)
	if bad3.spool(ctx, msgs) || *fatal3 != nil {
		t.Fatalf("write cancelled by a rebalance must stop quietly, got %v", *fatal3)
	}
	bad3.commitSpooled()
	if len(fc.commits) != 1 {
		t.Fatalf("commits after failed writes: %v", fc.commits)
	}
}

package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/schema"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// recordingSpool is a fake Appender: it records each Write and can fail. Like the spool it
// copies the rows (a Writer reuses their buffer once Append returns).
type recordingSpool struct {
	writes []spool.Write
	err    error
}

func (s *recordingSpool) Append(_ context.Context, w spool.Write) error {
	rows := make([][]byte, len(w.Rows))
	for i, r := range w.Rows {
		rows[i] = bytes.Clone(r)
	}
	w.Rows = rows
	s.writes = append(s.writes, w)
	return s.err
}

func testTable(t *testing.T) *schema.Table {
	t.Helper()
	tb, err := schema.Compile(config.Table{Name: "T", Columns: []config.Column{
		{Name: "id", Type: "int64", Required: true}, {Name: "at", Type: "datetime", Timestamp: "ingest"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestWriterWrite(t *testing.T) {
	for _, deferred := range []bool{false, true} {
		t.Run(fmt.Sprintf("deferred=%v", deferred), func(t *testing.T) { testWriterWrite(t, deferred) })
	}
}

func testWriterWrite(t *testing.T, deferred bool) {
	now := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	q := spool.QueueKey{Dataset: "D", Table: "T"}
	input := "{\"id\": 1}\n{bad\n{\"id\": \"x\"}\n{\"id\": 2}\n"
	recs, err := decodeAll(t, "jsonl", []byte(input), DecoderOptions{Deferred: deferred})
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, Record{Offset: 99, Raw: []byte("kafka msg"), Err: errors.New("boom")})
	fs := &recordingSpool{}
	w := &Writer{Queue: q, Table: testTable(t), Spool: fs, Now: func() time.Time { return now }}
	cp := map[string][]byte{"file:a.jsonl": []byte("64")}

	res, err := w.Write(context.Background(), "a.jsonl", recs, cp)
	if err != nil {
		t.Fatal(err)
	}
	// Malformed: the line that is not JSON and the Kafka record with Err (metrics: reason decode),
	// whether the line was decoded by the decoder or by the Writer (deferred).
	if res != (Result{Rows: 2, Rejected: 3, Malformed: 2}) || len(fs.writes) != 1 {
		t.Fatalf("result %+v after %d appends", res, len(fs.writes))
	}
	got := fs.writes[0]
	wantRows := []string{`{"id":1,"at":"2025-06-07T08:09:10.000Z"}`, `{"id":2,"at":"2025-06-07T08:09:10.000Z"}`}
	if got.Queue != q || !reflect.DeepEqual(got.Checkpoints, cp) || len(got.Rows) != 2 ||
		string(got.Rows[0]) != wantRows[0] || string(got.Rows[1]) != wantRows[1] {
		t.Fatalf("write = %+v", got)
	}
	wantDL := []struct{ data, pos, reason string }{
		{"{bad", "a.jsonl:2", "line 2 (offset 10): invalid JSON"},
		{`{"id": "x"}`, "a.jsonl:3", `column id: "x" is not a number`},
		{"kafka msg", "a.jsonl@99", "boom"},
	}
	for i, dl := range got.DeadLetters {
		want := wantDL[i]
		if string(dl.Data) != want.data || dl.Position != want.pos || !strings.HasPrefix(dl.Reason, want.reason) ||
			dl.Queue != q || !dl.At.Equal(now) {
			t.Errorf("dead letter %d = %+v, want %+v", i, dl, want)
		}
	}
}

func TestWriterAppendError(t *testing.T) {
	fs := &recordingSpool{err: spool.ErrFull}
	w := &Writer{Queue: spool.QueueKey{Dataset: "D", Table: "T"}, Table: testTable(t), Spool: fs}
	_, err := w.Write(context.Background(), "stdin", []Record{{Line: 1, Fields: map[string]any{"id": "1"}}}, nil)
	if !errors.Is(err, spool.ErrFull) || !strings.Contains(err.Error(), "stdin") || len(fs.writes) != 1 {
		t.Errorf("err = %v after %d appends", err, len(fs.writes))
	}
}

func TestWriterEmptyStillCheckpoints(t *testing.T) {
	fs := &recordingSpool{}
	w := &Writer{Table: testTable(t), Spool: fs}
	res, err := w.Write(context.Background(), "f", nil, map[string][]byte{"k": []byte("v")})
	if err != nil || res != (Result{}) || len(fs.writes) != 1 || string(fs.writes[0].Checkpoints["k"]) != "v" {
		t.Errorf("res %+v err %v writes %+v", res, err, fs.writes)
	}
}

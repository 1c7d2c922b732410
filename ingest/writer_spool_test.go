package ingest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// TestWriterRealSpool decodes a file with good and bad lines, writes it through a real bbolt
// spool, reopens the file and finds the rows, the dead letters and the checkpoint.
func TestWriterRealSpool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	sp, err := spool.Open(path, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := spool.QueueKey{Dataset: "D", Table: "T"}
	recs, err := decodeAll(t, "jsonl", []byte("{\"id\":1}\n{oops\n{\"id\":2}\n{\"id\":true}\n"), DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := &Writer{Queue: q, Table: testTable(t), Spool: sp}
	res, err := w.Write(context.Background(), "in.jsonl", recs, map[string][]byte{"file:in.jsonl": []byte("37")})
	if err != nil || res != (Result{Rows: 2, Rejected: 2, Malformed: 1}) {
		t.Fatalf("Write = %+v, %v", res, err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}

	sp, err = spool.Open(path, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	b, err := sp.Take(q, 10, 1<<20)
	if err != nil || b == nil || len(b.Rows) != 2 {
		t.Fatalf("Take = %+v, %v", b, err)
	}
	dls, err := sp.DeadLetters(10)
	if err != nil || len(dls) != 2 {
		t.Fatalf("DeadLetters = %+v, %v", dls, err)
	}
	if dls[0].Position != "in.jsonl:2" || string(dls[0].Data) != "{oops" ||
		dls[1].Position != "in.jsonl:4" || string(dls[1].Data) != `{"id":true}` {
		t.Errorf("dead letters = %+v", dls)
	}
	if cp, err := sp.Meta("file:in.jsonl"); err != nil || string(cp) != "37" {
		t.Errorf("checkpoint = %q, %v", cp, err)
	}
}

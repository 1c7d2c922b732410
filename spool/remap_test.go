package spool_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// TestReplayRemapsSourceFormatDeadLetters: a source-format dead letter is replayed through the
// Remapper (rescued rows are queued, the others stay in place with the new reason and their
// position); without one it stays untouched; a row-format dead letter is queued as it is.
func TestReplayRemapsSourceFormatDeadLetters(t *testing.T) {
	for _, withRemap := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "spool.db")
		var opts spool.Options
		if withRemap {
			opts.Remap = func(d spool.DeadLetter) ([]byte, error) {
				if string(d.Data) == `{"v":"bad"}` {
					return nil, errors.New("column v: still bad")
				}
				return []byte(`{"V":1}`), nil
			}
		}
		s, err := spool.Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(1, 0)
		w := spool.Write{Queue: qA, DeadLetters: []spool.DeadLetter{
			{Queue: qA, Data: []byte(`{"v":"1"}`), Position: "in.jsonl:1", Reason: "old", At: at, Format: "json"},
			{Queue: qA, Data: []byte(`{"v":"bad"}`), Position: "in.jsonl:2", Reason: "old", At: at, Format: "json"},
			{Queue: qA, Data: []byte(`2,x`), Position: "in.csv:3", Reason: "old", At: at, Format: "csv", Header: []string{"v", "w"}},
			{Queue: qA, Data: []byte(`{"V":7}`), Reason: "power bi", At: at},
		}}
		if err := s.Append(context.Background(), w); err != nil {
			t.Fatal(err)
		}
		n, err := s.ReplayDeadLetters(spool.DeadFilter{})
		if err != nil {
			t.Fatal(err)
		}
		left, _, err := s.FindDeadLetters(spool.DeadFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if withRemap {
			if n != 3 || len(left) != 1 || left[0].ID != 2 || left[0].Position != "in.jsonl:2" ||
				left[0].Reason != "column v: still bad" || left[0].Format != "json" || string(left[0].Data) != `{"v":"bad"}` {
				t.Errorf("with remap: moved %d, left %+v", n, left)
			}
			if got := s.Backlog(qA).Rows; got != 3 {
				t.Errorf("with remap: %d rows queued, want 3", got)
			}
		} else {
			if n != 1 || len(left) != 3 || left[2].Header == nil || left[2].Reason != "old" {
				t.Errorf("without remap: moved %d, left %+v", n, left)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

package spool_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/spool"
	"github.com/pbi-pusher/pbi-pusher/spool/spooltest"
)

// TestDeadLetterCapEvictsOldest: dead letters have a cap of their own; beyond it the oldest go,
// counted in the file; rows are never blocked by dead letters.
func TestDeadLetterCapEvictsOldest(t *testing.T) {
	h := spooltest.New(t, spool.Options{MaxBytes: 100, MaxDeadBytes: 2000})
	for i := range 50 {
		w := spool.Write{DeadLetters: []spool.DeadLetter{{Data: fmt.Appendf(nil, "bad-%02d", i), Position: "f:1", Reason: "decode"}}}
		must(t, h.S.Append(context.Background(), w))
	}
	mustAppend(t, h.S, qA, rows("r", 3))                   // dead letters never count toward MaxBytes
	must(t, h.S.Reject(mustTake(t, h.S, qA, 1, 0), "400")) // Reject is capped too
	st := h.S.Stats()
	if st.DeadEvicted == 0 || st.DeadLetters+int(st.DeadEvicted) != 51 {
		t.Fatalf("dead letters %d, evicted %d; want some evicted and 51 in all", st.DeadLetters, st.DeadEvicted)
	}
	dls, err := h.S.DeadLetters(0)
	must(t, err)
	if last := dls[len(dls)-1]; last.Reason != "400" || string(dls[0].Data) == "bad-00" {
		t.Fatalf("kept %q .. %q: want the newest kept, the oldest evicted", dls[0].Data, last.Data)
	}
	h.MustCheck()
	if got := h.Reopen().Stats(); got.DeadEvicted != st.DeadEvicted || got.DeadLetters != st.DeadLetters {
		t.Fatalf("after reopen: %d dead, %d evicted; want %d, %d", got.DeadLetters, got.DeadEvicted, st.DeadLetters, st.DeadEvicted)
	}
}

package spool_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

const crashEnv = "SPOOL_CRASH_CHILD"

// TestCrashChild is the child process of TestCrashKill: it appends with checkpoints from three
// goroutines and takes/acks/nacks from a fourth, printing what each call acknowledged, until it
// is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("child process of TestCrashKill")
	}
	s, err := spool.Open(path, spool.Options{})
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		fmt.Printf(format+"\n", args...)
		out.Unlock()
	}
	for g := range 3 {
		go crashAppender(s, g, say)
	}
	crashTaker(s, say)
}

func crashAppender(s *spool.Spool, g int, say func(string, ...any)) {
	for i := 0; ; i++ {
		w := spool.Write{Queue: qA, Rows: [][]byte{fmt.Appendf(nil, `{"g":%d,"i":%d}`, g, i)},
			Checkpoints: map[string][]byte{"cp/" + strconv.Itoa(g): []byte(strconv.Itoa(i))}}
		if err := s.Append(context.Background(), w); err != nil {
			say("error %v", err)
			return
		}
		say("A %d %d", g, i)
	}
}

// crashTaker keeps up to three batches in flight, acking most and nacking some.
func crashTaker(s *spool.Spool, say func(string, ...any)) {
	var held []*spool.Batch
	for n := 0; ; n++ {
		b, err := s.Take(qA, 7, 0)
		if err != nil {
			say("error %v", err)
			return
		}
		if b == nil {
			<-s.Notify()
			continue
		}
		held = append(held, b)
		if len(held) < 3 {
			continue
		}
		b, held = held[0], held[1:]
		if n%5 == 0 {
			_ = s.Nack(b)
			continue
		}
		for _, r := range b.Rows {
			say("P %s", r.Data) // Ack may commit and the process die before "D" is printed
		}
		if err := s.Ack(b); err == nil {
			for _, r := range b.Rows {
				say("D %s", r.Data)
			}
		}
	}
}

type crashRow struct{ G, I int }

// TestCrashKill SIGKILLs a process using the spool mid-traffic, then checks on reopen: the file
// passes Check; every row whose Append returned is there unless its Ack returned (invariant 1
// and 2); a row whose Ack returned is gone; each checkpoint covers only rows that are there or
// delivered; rows that were in flight come back ready. It reopens the killed file twice (a copy
// the second time): checked in full at Open, and as a large file, on estimates with the check in
// the background (bgcheck.go), taking the first batch before it ends.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "spool.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	seen := readUntilKill(t, cmd, bufio.NewScanner(stdout))
	_ = cmd.Wait()
	killed, err := os.ReadFile(path)
	must(t, err)
	background := filepath.Join(t.TempDir(), "spool.db")
	must(t, os.WriteFile(background, killed, 0o600))

	for _, c := range []struct {
		name string
		path string
		opts spool.Options
	}{{"check at open", path, spool.Options{}}, {"check in background", background, spool.Options{FullCheckMaxBytes: -1}}} {
		s, err := spool.Open(c.path, c.opts)
		must(t, err)
		present := map[crashRow]bool{}
		for {
			b := mustTake(t, s, qA, 100, 0) // the first before the background check ends, likely
			if b == nil {
				break
			}
			for _, r := range b.Rows {
				var row crashRow
				must(t, json.Unmarshal(r.Data, &row))
				present[row] = true
			}
		}
		must(t, s.Check()) // waits for the background check
		t.Logf("%s: appends acknowledged %d, acks returned %d, rows in the spool %d, re-queued %d",
			c.name, len(seen['A']), len(seen['D']), len(present), s.Stats().Requeued)
		checkCrashRows(t, s, seen, present)
		must(t, s.Close())
	}
}

// readUntilKill reads the child's lines (A: Append returned, P: Ack about to be called, D: Ack
// returned) and kills it once enough traffic went by.
func readUntilKill(t *testing.T, cmd *exec.Cmd, sc *bufio.Scanner) map[byte]map[crashRow]bool {
	seen := map[byte]map[crashRow]bool{'A': {}, 'P': {}, 'D': {}}
	deadline := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	killed := false
	for sc.Scan() {
		var r crashRow
		var kind byte
		line := sc.Text()
		switch {
		case sscan(line, "A %d %d", &r.G, &r.I):
			kind = 'A'
		case sscan(line, `%c {"g":%d,"i":%d}`, &kind, &r.G, &r.I) && (kind == 'P' || kind == 'D'):
		default:
			t.Fatalf("child: %s", line)
		}
		seen[kind][r] = true
		if !killed && len(seen['A']) >= 600 && len(seen['D']) >= 100 {
			killed = true
			must(t, cmd.Process.Kill()) // SIGKILL; lines already in the pipe are still read
		}
	}
	if !killed {
		t.Fatalf("child ended before enough traffic: %d appends, %d acks", len(seen['A']), len(seen['D']))
	}
	return seen
}

func sscan(line, format string, args ...any) bool {
	n, err := fmt.Sscanf(line, format, args...)
	return err == nil && n == len(args)
}

func checkCrashRows(t *testing.T, s *spool.Spool, seen map[byte]map[crashRow]bool, present map[crashRow]bool) {
	t.Helper()
	accounted := func(r crashRow) bool { return present[r] || seen['D'][r] || seen['P'][r] }
	for r := range seen['A'] {
		if !accounted(r) {
			t.Errorf("row %+v: Append returned, yet it is neither in the spool nor acked", r)
		}
	}
	for r := range seen['D'] {
		if present[r] {
			t.Errorf("row %+v: Ack returned, yet it is still in the spool", r)
		}
	}
	for g := range 3 {
		v, err := s.Meta("cp/" + strconv.Itoa(g))
		must(t, err)
		cp, _ := strconv.Atoi(string(v))
		for i := 0; v != nil && i <= cp; i++ {
			if r := (crashRow{g, i}); !accounted(r) {
				t.Errorf("checkpoint cp/%d=%d covers row %+v, which is lost", g, cp, r)
			}
		}
	}
}

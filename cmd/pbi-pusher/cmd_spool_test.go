package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/admin"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// spoolFixture writes a spool with 3 rows in sales/orders and 2 dead letters (one replayable).
func spoolFixture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spool.db")
	s, err := spool.Open(path, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := spool.QueueKey{Dataset: "sales", Table: "orders"}
	w := spool.Write{Queue: q, Rows: [][]byte{[]byte(`{"a":1}`), []byte(`{"a":2}`), []byte(`{"a":3}`)},
		DeadLetters: []spool.DeadLetter{{Data: []byte("not json\n"), Position: "in.jsonl:7", Reason: "decode: invalid character"}}}
	if err := s.Append(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	b, err := s.Take(q, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reject(b, "400: column a: not a date"); err != nil {
		t.Fatal(err)
	}
	return path
}

func runSpoolArgs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runSpool(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRunSpool(t *testing.T) {
	tests := []struct {
		name     string
		args     []string // -spool PATH is appended
		code     int
		stdout   []string
		stderr   string
		afterRun func(t *testing.T, path string)
	}{
		{name: "stats", args: []string{"stats"}, stdout: []string{"QUEUE", "sales/orders  2", "dead letters", "2"}},
		{name: "dead letters", args: []string{"dead-letters"}, stdout: []string{"in.jsonl:7", `not json\n`, "400: column a: not a date", "sales/orders"}},
		{name: "dead letters limit", args: []string{"dead-letters", "-limit", "1", "-json"}, stdout: []string{`"id": 1`, `"position": "in.jsonl:7"`}},
		{name: "replay id", args: []string{"replay", "-id", "2"}, stdout: []string{"replayed 1 dead letters"}, afterRun: func(t *testing.T, path string) {
			code, out, _ := runSpoolArgs("stats", "-json", "-spool", path)
			var st admin.SpoolView
			if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.DeadLetters != 1 || st.Queues[0].Rows != 3 {
				t.Fatalf("after replay: code %d, err %v, stats %+v", code, err, st)
			}
		}},
		{name: "replay queue-less", args: []string{"replay", "-id", "1"}, code: 1, stderr: "no queue"},
		{name: "replay needs ids", args: []string{"replay"}, code: 2, stderr: "-id N"},
		{name: "replay ids and all", args: []string{"replay", "-all", "-id", "1"}, code: 2, stderr: "-id N"},
		{name: "replay by reason", args: []string{"replay", "-reason", "NOT A DATE"}, stdout: []string{"replayed 1 dead letters"}},
		{name: "replay all skips queueless", args: []string{"replay", "-all"}, stdout: []string{"replayed 1 dead letters"}},
		{name: "dead letters by table", args: []string{"dead-letters", "-table", "sales/orders", "-json"}, stdout: []string{`"id": 2`}},
		{name: "dead letters since", args: []string{"dead-letters", "-since", "1h", "-reason", "decode"}, stdout: []string{"in.jsonl:7"}},
		{name: "dead letters bad since", args: []string{"dead-letters", "-since", "yesterday"}, code: 2, stderr: "-since"},
		{name: "purge by id", args: []string{"purge", "-id", "1", "-json"}, stdout: []string{`"purged": 1`}},
		{name: "purge needs a selection", args: []string{"purge"}, code: 2, stderr: "purge needs"},
		{name: "purge unknown id", args: []string{"purge", "-id", "9"}, code: 1, stderr: "not found"},
		{name: "bad id", args: []string{"replay", "-id", "x"}, code: 2, stderr: "not a dead letter id"},
		{name: "unknown command", args: []string{"compact"}, code: 2, stderr: "unknown command"},
		{name: "salvage needs file", args: []string{"salvage"}, code: 2, stderr: "exactly one FILE"},
		{name: "salvage garbage", args: []string{"salvage", "/dev/null"}, code: 1, stdout: []string{"salvaged 0 rows"}},
		{name: "help", args: []string{"stats", "-h"}, code: 0, stderr: "Examples:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := spoolFixture(t)
			code, out, errOut := runSpoolArgs(append(tc.args, "-spool", path)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errOut)
			}
			if tc.afterRun != nil {
				tc.afterRun(t, path)
			}
		})
	}
}

func TestRunSpoolSalvage(t *testing.T) {
	old := spoolFixture(t)
	into := filepath.Join(t.TempDir(), "new.db")
	s, err := spool.Open(into, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	code, out, errOut := runSpoolArgs("salvage", old, "-spool", into, "-json")
	if code != 0 || !strings.Contains(out, `"rows": 4`) {
		t.Fatalf("salvage: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestRunSpoolRefusesMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.db")
	if code, _, errOut := runSpoolArgs("stats", "-spool", path); code != 1 || !strings.Contains(errOut, "no spool file") {
		t.Fatalf("exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("stats created a spool file")
	}
}

func TestRunSpoolUsage(t *testing.T) {
	if code, _, errOut := runSpoolArgs(); code != 2 || !strings.Contains(errOut, "Usage") {
		t.Fatalf("no args: %d %s", code, errOut)
	}
	if code, _, errOut := runSpoolArgs("stats"); code != 2 || !strings.Contains(errOut, "-spool PATH, -config FILE or -admin ADDR") {
		t.Fatalf("no path: %d %s", code, errOut)
	}
}

package progress

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// term is a real pseudo-terminal: the display writes to tty, the test reads ptmx.
type term struct {
	tty    *os.File
	mu     sync.Mutex
	out    bytes.Buffer
	change chan struct{} // signalled after every read
}

func openTerm(t *testing.T, cols uint16) *term {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	tm := &term{tty: tty, change: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			select {
			case tm.change <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { tty.Close(); ptmx.Close(); <-done })
	return tm
}

// waitFor waits until the terminal output contains want and returns the output.
func (tm *term) waitFor(t *testing.T, want string) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		tm.mu.Lock()
		got := tm.out.String()
		tm.mu.Unlock()
		if strings.Contains(got, want) {
			return got
		}
		select {
		case <-tm.change:
		case <-deadline:
			t.Fatalf("terminal never showed %q; got %q", want, got)
		}
	}
}

// lastLine is the text after the last erase-line sequence.
func lastLine(out string) string {
	i := strings.LastIndex(out, eraseLine)
	if i < 0 {
		return out
	}
	return out[i+len(eraseLine):]
}

func TestTerminalLine(t *testing.T) {
	budget := "1,000,000 rows/hour"
	tests := []struct {
		name   string
		total  int64
		snaps  []Snapshot
		want   []string
		absent []string
	}{
		{
			name: "10M rows: the model's ETA and binding limit up front", total: 10_000_000,
			snaps: []Snapshot{{Elapsed: time.Second, Reading: true, ETA: 9 * time.Hour, ETAKnown: true, Binding: budget}},
			want:  []string{"read 0/10,000,000 (0%)", "delivered 0", "backlog 0", "0 rows/s", "ETA ~9h00m (1,000,000 rows/hour)"},
		},
		{
			name: "the large tier named once it binds", total: 300_000,
			snaps: []Snapshot{{Read: 300_000, Delivered: 250_000, Backlog: 50_000, Elapsed: 100 * time.Second, ETA: 59*time.Minute + 2*time.Second, ETAKnown: true, Binding: "table ≥ 250,000 rows: 120 POSTs/hour"}},
			want:  []string{"read 300,000/300,000 (100%)", "2,500 rows/s", "ETA ~59m02s (table ≥ 250,000 rows: 120 POSTs/hour)"},
		},
		{
			name: "rate is smoothed, not the last interval", total: 100_000,
			snaps: []Snapshot{
				{Read: 100_000, Delivered: 10_000, Backlog: 90_000, Elapsed: 10 * time.Second},
				{Read: 100_000, Delivered: 10_000, Backlog: 90_000, Elapsed: 20 * time.Second},
			},
			// 1,000/s then 0/s for 10 s: 1000·e^(-10/20) ≈ 607/s
			want: []string{"607 rows/s"},
		},
		{
			name: "no estimate: unknown", total: 0,
			snaps: []Snapshot{{Read: 500, Spooled: 495, Delivered: 100, Rejected: 5, Backlog: 395, Elapsed: time.Second, Reading: true}},
			want:  []string{"read 500  delivered 100  rejected 5  backlog 395", "ETA unknown"},
		},
		{
			name: "resumed records count as read", total: 1000,
			snaps: []Snapshot{{Read: 200, Resumed: 800, Delivered: 200, Elapsed: time.Second, ETAKnown: true}},
			want:  []string{"read 1,000/1,000 (100%, 800 resumed)", "ETA ~0s"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm := openTerm(t, 200)
			d := New(tm.tty, true, tc.total, nil)
			for _, s := range tc.snaps {
				d.Update(s)
			}
			d.Done()
			out := tm.waitFor(t, "\r\n") // Done ends the line (the pty turns \n into \r\n)
			if strings.Count(out, eraseLine) != len(tc.snaps)+1 {
				t.Errorf("want one redraw per update plus the final one, got %q", out)
			}
			line := strings.TrimSuffix(lastLine(out), "\r\n")
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("line %q lacks %q", line, w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(line, a) {
					t.Errorf("line %q has %q", line, a)
				}
			}
		})
	}
}

func TestModelETAAndBinding(t *testing.T) {
	tm := openTerm(t, 200)
	d := New(tm.tty, true, 3_000_000, nil)
	d.Update(Snapshot{Read: 3_000_000, Delivered: 250_000, Backlog: 2_750_000, Elapsed: 2 * time.Minute,
		ETA: 59 * time.Minute, ETAKnown: true, Binding: "table ≥ 250,000 rows: 120 POSTs/hour"})
	d.Finish("backfill interrupted")
	out := tm.waitFor(t, "backfill interrupted")
	for _, w := range []string{"ETA ~59m00s (table ≥ 250,000 rows: 120 POSTs/hour)", "rows/s"} {
		if !strings.Contains(out, w) {
			t.Errorf("output %q lacks %q", out, w)
		}
	}
}

func TestInterruptedRunSaysSo(t *testing.T) {
	var logs bytes.Buffer
	d := New(&bytes.Buffer{}, false, 100, slog.New(slog.NewJSONHandler(&logs, nil)))
	d.Update(Snapshot{Read: 10, Elapsed: time.Second, Reading: true})
	d.Finish("backfill interrupted")
	if !strings.Contains(logs.String(), `"msg":"backfill interrupted"`) || strings.Contains(logs.String(), "backfill finished") {
		t.Errorf("logs: %s", logs.String())
	}
}

func TestTerminalLineFitsTheWidth(t *testing.T) {
	tm := openTerm(t, 40)
	if !IsTerminal(tm.tty) || Width(tm.tty) != 40 {
		t.Fatalf("pty: IsTerminal %v, Width %d", IsTerminal(tm.tty), Width(tm.tty))
	}
	d := New(tm.tty, true, 10_000_000, nil)
	d.Update(Snapshot{Read: 1_234_567, Delivered: 1_000_000, Backlog: 234_567, Elapsed: time.Minute, Reading: true})
	line := lastLine(tm.waitFor(t, "read 1,234,567"))
	if n := len([]rune(line)); n >= 40 {
		t.Errorf("line of %d columns on a 40-column terminal wraps: %q", n, line)
	}
}

func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for name, w := range map[string]io.Writer{"pipe": w, "dev null": null, "buffer": &bytes.Buffer{}} {
		if IsTerminal(w) {
			t.Errorf("%s reported as a terminal", name)
		}
	}
}

func TestLogLinesWhenNotATerminal(t *testing.T) {
	var logs, out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	d := New(&out, false, 10_000_000, log)
	for s := 0; s <= 25; s++ {
		d.Update(Snapshot{Read: int64(s) * 1000, Delivered: int64(s) * 1000, Elapsed: time.Duration(s) * time.Second, Reading: true,
			ETA: 9*time.Hour + 58*time.Minute, ETAKnown: true, Binding: "1,000,000 rows/hour"})
	}
	d.Done()
	d.Done()
	d.Update(Snapshot{Elapsed: time.Hour})
	if out.Len() != 0 {
		t.Errorf("non-terminal output got drawing: %q", out.String())
	}
	var msgs []string
	var last map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, last["msg"].(string))
	}
	want := "backfill progress,backfill progress,backfill progress,backfill finished" // at 0 s, 10 s, 20 s, Done
	if got := strings.Join(msgs, ","); got != want {
		t.Errorf("log lines %s, want %s", got, want)
	}
	if last["read"] != 25000.0 || last["eta"] != "~9h58m" || last["eta_bound"] != "1,000,000 rows/hour" {
		t.Errorf("final log line %v", last)
	}
}

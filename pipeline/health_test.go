package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pbi-pusher/pbi-pusher/sink"
)

// logBuf collects JSON log lines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns "LEVEL msg" of every line.
func (b *logBuf) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range bytes.Split(bytes.TrimSpace(b.buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil {
			out = append(out, fmt.Sprintf("%s %s", m["level"], m["msg"]))
		}
	}
	return out
}

var (
	errRefused = &sink.Error{Op: "post rows", Class: sink.Retryable, Err: errors.New("dial tcp: connect: connection refused")}
	err503     = &sink.Error{Op: "post rows", Class: sink.Retryable, Status: http.StatusServiceUnavailable}
	err429     = &sink.Error{Op: "post rows", Class: sink.Throttled, Status: http.StatusTooManyRequests}
	err400     = &sink.Error{Op: "post rows", Class: sink.Rejected, Status: http.StatusBadRequest, Message: "bad value"}
	err401     = &sink.Error{Op: "post rows", Class: sink.Retryable, Auth: true, Status: http.StatusUnauthorized}
	err403     = &sink.Error{Op: "post rows", Class: sink.Fatal, Status: http.StatusForbidden}
)

// A long outage is logged once when it starts, reminded every 5 minutes, counted per minute, and
// logged once when it ends, with its length; the states and counts show in the snapshot.
func TestHealthLogsOncePerTransition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var lb logBuf
		h := newHealth("ds", slog.New(slog.NewJSONHandler(&lb, nil)), func() int { return 42 })
		ctx, stop := context.WithCancel(context.Background())
		go func() {
			tk := time.NewTicker(healthTick)
			defer tk.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-tk.C:
					h.tick(now)
				}
			}
		}()
		h.observe(0, nil) // resolved
		start := time.Now()
		// 12 minutes of failures every 2 s, some 503s among them.
		for i := 0; time.Since(start) < 12*time.Minute; i++ {
			if i%3 == 0 {
				h.observe(500, err503)
			} else {
				h.observe(500, errRefused)
			}
			time.Sleep(2 * time.Second)
		}
		if s := h.Snapshot(); s.State != SinkFailing || s.Down.IsZero() || s.Errors[ErrServer] == 0 || s.Errors[ErrUnreachable] == 0 {
			t.Errorf("during the outage: %+v", s)
		}
		time.Sleep(30 * time.Second)
		h.observe(500, err429) // throttling is no recovery and no failure
		h.observe(500, nil)
		h.observe(1, err400) // a dead-lettered row: counted, WARN in the next aggregate
		time.Sleep(2 * time.Minute)
		stop()
		s := h.Snapshot()
		if s.State != SinkUp || s.LastSuccess.IsZero() || s.Errors[ErrDeadLettered] != 1 || s.Errors[ErrThrottled] != 1 {
			t.Errorf("after recovery: %+v", s)
		}
		count := map[string]int{}
		for _, l := range lb.lines() {
			count[l]++
		}
		want := map[string]int{
			"INFO Power BI dataset ready": 1,
			"WARN Power BI failing":       1,
			"WARN Power BI still failing": 2, // at 5 and 10 minutes
			"INFO Power BI recovered":     1,
			"INFO Power BI errors":        12, // one per minute of the outage (never one per POST)
			"WARN Power BI errors":        1,  // the minute with the dead letter
		}
		for k, n := range want {
			if count[k] != n {
				t.Errorf("%d lines %q, want %d (all: %v)", count[k], k, n, count)
			}
		}
		if len(count) != len(want) {
			t.Errorf("unexpected lines: %v", count)
		}
	})
}

// Auth failures and permanent answers: a refused fresh token is auth_failed (ERROR once,
// permanent for backfill); a parked dataset ignores late answers until revived.
func TestHealthAuthFailedAndParked(t *testing.T) {
	var lb logBuf
	h := newHealth("ds", slog.New(slog.NewJSONHandler(&lb, nil)), func() int { return 0 })
	var permanent []error
	h.setOnPermanent(func(err error) { permanent = append(permanent, err) })
	h.observe(10, err401)
	h.observe(10, err401)
	if s := h.Snapshot(); s.State != SinkAuthFailed || !s.Permanent || s.Errors[ErrAuth] != 2 {
		t.Errorf("after two refused tokens: %+v", s)
	}
	h.observe(10, nil)
	h.observe(10, err403)
	h.park(err403)
	h.observe(10, nil) // a late answer of a POST in flight
	if s := h.Snapshot(); s.State != SinkParked || !s.Permanent || s.Errors[ErrFatal] != 1 {
		t.Errorf("parked: %+v", s)
	}
	if !h.revive() || h.Snapshot().State != SinkConnecting || h.revive() {
		t.Errorf("revive: %+v", h.Snapshot())
	}
	if len(permanent) != 2 {
		t.Errorf("onPermanent called %d times, want 2 (auth_failed, parked)", len(permanent))
	}
	got := fmt.Sprint(lb.lines())
	want := "[ERROR Power BI authentication failed INFO Power BI recovered ERROR dataset parked INFO dataset revived: resolving it again]"
	if got != want {
		t.Errorf("logs %s, want %s", got, want)
	}
}

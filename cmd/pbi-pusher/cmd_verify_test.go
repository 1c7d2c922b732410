package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Each table's status and the exit code: ok (0), extra rows or duplicate keys (4), missing rows
// in a retention-None table (5); a basicFIFO table that holds fewer rows is trimmed, not missing.
func TestVerifyStatusAndCode(t *testing.T) {
	cfg := &config.Config{Datasets: []config.Dataset{
		{Name: "N", Retention: "None", Tables: []config.Table{{Name: "t"}}},
		{Name: "F", Retention: "basicFIFO", Tables: []config.Table{{Name: "t"}}},
	}}
	dup := func(n int64) *int64 { return &n }
	tests := []struct {
		name   string
		q      spool.QueueKey
		row    verifyRow
		status string
		code   int
	}{
		{"agree", spool.QueueKey{Dataset: "N", Table: "t"}, verifyRow{Delivered: 10, Service: 10}, "ok", 0},
		{"agree with key", spool.QueueKey{Dataset: "N", Table: "t"}, verifyRow{Delivered: 10, Service: 10, Duplicates: dup(0)}, "ok", 0},
		{"more at the service", spool.QueueKey{Dataset: "N", Table: "t"}, verifyRow{Delivered: 10, Service: 12, Difference: 2}, "extra", 4},
		{"duplicate keys", spool.QueueKey{Dataset: "N", Table: "t"}, verifyRow{Delivered: 10, Service: 10, Duplicates: dup(1)}, "extra", 4},
		{"fewer in a None table", spool.QueueKey{Dataset: "N", Table: "t"}, verifyRow{Delivered: 10, Service: 8, Difference: -2}, "missing", 5},
		{"fewer in a FIFO table", spool.QueueKey{Dataset: "F", Table: "t"}, verifyRow{Delivered: 10, Service: 8, Difference: -2}, "fifo-trimmed", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.row
			r.Status = verifyStatus(cfg, tc.q, r)
			if r.Status != tc.status {
				t.Errorf("status %q, want %q", r.Status, tc.status)
			}
			if code := verifyCode([]verifyRow{r}); code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
		})
	}
	// Extra wins over missing when tables disagree both ways.
	if code := verifyCode([]verifyRow{{Status: "missing"}, {Status: "extra"}}); code != exitVerifyExtra {
		t.Errorf("mixed: exit %d, want %d", code, exitVerifyExtra)
	}
}

// Usage errors exit 2 before anything is opened.
func TestVerifyUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"-config"}, {"-config", "x.yaml", "extra"}, {"-nope"}} {
		var out, errb bytes.Buffer
		if code := runVerify(context.Background(), args, &out, &errb); code != exitUsage {
			t.Errorf("verify %s: exit %d, want %d (%s)", strings.Join(args, " "), code, exitUsage, errb.String())
		}
	}
}

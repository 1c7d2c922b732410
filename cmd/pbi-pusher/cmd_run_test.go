package main

import (
	"testing"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

func TestSpoolIdle(t *testing.T) {
	q := spool.QueueKey{Dataset: "D", Table: "T"}
	tests := []struct {
		name string
		st   spool.Stats
		want bool
	}{
		{"empty spool", spool.Stats{}, true},
		{"drained queue", spool.Stats{Queues: map[spool.QueueKey]spool.Backlog{q: {}}}, true},
		{"rows waiting", spool.Stats{Queues: map[spool.QueueKey]spool.Backlog{q: {Rows: 1}}}, false},
		{"a POST in flight", spool.Stats{InFlight: 3, Queues: map[spool.QueueKey]spool.Backlog{q: {}}}, false},
		{"only dead letters", spool.Stats{DeadLetters: 5}, true},
	}
	for _, tc := range tests {
		if got := spoolIdle(tc.st); got != tc.want {
			t.Errorf("%s: spoolIdle = %v, want %v", tc.name, got, tc.want)
		}
	}
}

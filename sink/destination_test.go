package sink_test

import (
	"errors"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/sink"
)

func TestBatcherOutcome(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want batcher.Outcome
	}{
		{"nil", nil, batcher.Outcome{Class: batcher.OK}},
		{"network", errors.New("connection reset"), batcher.Outcome{Class: batcher.Retryable, Message: "connection reset"}},
		{"429", &sink.Error{Op: "post", Class: sink.Throttled, RetryAfter: 7 * time.Second},
			batcher.Outcome{Class: batcher.Throttled, RetryAfter: 7 * time.Second}},
		{"400", &sink.Error{Op: "post", Class: sink.Rejected, Message: "bad value"},
			batcher.Outcome{Class: batcher.Rejected, Message: "bad value"}},
		{"403", &sink.Error{Op: "post", Class: sink.Fatal, Status: 403}, batcher.Outcome{Class: batcher.Fatal}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sink.BatcherOutcome(tc.err)
			if got.Class != tc.want.Class || got.RetryAfter != tc.want.RetryAfter ||
				(tc.want.Message != "" && got.Message != tc.want.Message) {
				t.Errorf("BatcherOutcome(%v) = %+v, want %+v", tc.err, got, tc.want)
			}
		})
	}
}

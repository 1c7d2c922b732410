package eventstream

import (
	"errors"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
)

func TestDestinationLimits(t *testing.T) {
	c := config.Eventstream{Name: "es", Bootstrap: "h:9093", Topic: "t", EventsPerSecond: 2000, BytesPerSecond: 3_000_000,
		MaxRequestBytes: 1_000_000}
	s, err := New(Options{Config: c, Tokens: staticTokens{tok: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := NewDestination(s).Limits()
	if l.Rates.RowsPerPost != 2000 || l.Rates.RowsPerHour != 2000*3600 || l.Retention != "basicFIFO" {
		t.Errorf("limits %+v", l)
	}
	if s.MaxMessageBytes() >= 1_000_000 || l.MaxBytes != requestsPerSend*s.MaxMessageBytes() {
		t.Errorf("request budget %d, send bytes %d", s.MaxMessageBytes(), l.MaxBytes)
	}
}

func TestDestinationClassify(t *testing.T) {
	d := &Destination{}
	tests := []struct {
		name string
		err  error
		want batcher.Class
	}{
		{"ok", nil, batcher.OK},
		{"throttled", &Error{Class: Throttled, Err: kafka.ThrottlingQuotaExceeded}, batcher.Throttled},
		{"network", errors.New("connection reset by peer"), batcher.Retryable},
		{"leader moved", kafka.NotLeaderForPartition, batcher.Retryable},
		{"too large", kafka.MessageSizeTooLarge, batcher.Rejected},
		{"sasl", &Error{Class: Fatal, Err: kafka.SASLAuthenticationFailed}, batcher.Fatal},
		{"topic denied", kafka.TopicAuthorizationFailed, batcher.Fatal},
	}
	for _, tc := range tests {
		if got := d.Classify(tc.err).Class; got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	o := d.Classify(&Error{Class: Rejected, Err: kafka.MessageSizeTooLarge, Rows: []error{nil, kafka.MessageSizeTooLarge, kafka.RequestTimedOut}})
	if len(o.Rows) != 3 || o.Rows[0].Class != batcher.OK || o.Rows[1].Class != batcher.Rejected ||
		o.Rows[2].Class != batcher.Retryable || o.Rows[1].Message == "" {
		t.Errorf("per-row outcomes %+v", o.Rows)
	}
}

package eventstream_test

import (
	"context"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"

	"github.com/pbi-pusher/pbi-pusher/eventstream"
)

// plainSASL authenticates the test's reader as $ConnectionString.
type plainSASL struct{ connStr string }

func (plainSASL) Name() string { return "PLAIN" }

func (p plainSASL) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	return plain.Mechanism{Username: eventstream.ConnectionStringUser, Password: p.connStr}.Start(ctx)
}

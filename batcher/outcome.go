package batcher

import (
	"time"

	"github.com/pbi-pusher/pbi-pusher/sink"
)

// Outcome is a classified POST result.
type Outcome struct {
	Class      sink.Class
	RetryAfter time.Duration // Throttled: the service's Retry-After (0 = none given)
	Message    string        // Rejected: the service's message, kept with dead letters
}

// ClassifyFunc classifies a Sender error (nil = OK).
type ClassifyFunc func(error) Outcome

// SinkClassify is the default ClassifyFunc: sink.Classify, sink.RetryAfter and sink.Message.
func SinkClassify(err error) Outcome {
	if err == nil {
		return Outcome{Class: sink.OK}
	}
	return Outcome{Class: sink.Classify(err), RetryAfter: sink.RetryAfter(err), Message: sink.Message(err)}
}

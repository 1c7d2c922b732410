package eventstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/segmentio/kafka-go"
)

// Class is the classification of a send outcome.
type Class int

// Classes, from the destination's point of view.
const (
	OK        Class = iota
	Throttled       // the namespace is over its throughput: pause this destination, back off
	Retryable       // network, broker or timeout trouble: back off and send again
	Rejected        // the broker refused these messages (too large, invalid): dead letters
	Fatal           // authentication or authorization: this destination stops until fixed
)

func (c Class) String() string {
	return [...]string{"ok", "throttled", "retryable", "rejected", "fatal"}[c]
}

// Error is a classified send error. Its text names the endpoint and never a secret.
type Error struct {
	Endpoint string // bootstrap host:port
	Topic    string
	Op       string
	Class    Class
	Err      error
	// Rows holds, for a partly delivered batch, each message's own error (nil = delivered),
	// index-aligned with the messages sent. Nil when the whole batch shares Err.
	Rows []error
}

func (e *Error) Error() string {
	return fmt.Sprintf("eventstream %s topic %s: %s: %v", e.Endpoint, e.Topic, e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Classify returns the class of err (nil = OK). Errors that are not *Error are classified by
// their cause.
func Classify(err error) Class {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return classifyCause(err)
}

// rejectedCodes are broker answers that refuse the message itself: sending it again cannot help.
var rejectedCodes = map[kafka.Error]bool{
	kafka.MessageSizeTooLarge:         true,
	kafka.RecordListTooLarge:          true,
	kafka.InvalidMessage:              true, // CORRUPT_MESSAGE: the broker found the record bad
	kafka.InvalidRecord:               true,
	kafka.InvalidTimestamp:            true,
	kafka.UnsupportedForMessageFormat: true,
	kafka.PolicyViolation:             true,
}

// fatalCodes are answers about credentials or permissions.
var fatalCodes = map[kafka.Error]bool{
	kafka.SASLAuthenticationFailed:           true,
	kafka.TopicAuthorizationFailed:           true,
	kafka.ClusterAuthorizationFailed:         true,
	kafka.IllegalSASLState:                   true,
	kafka.UnsupportedSASLMechanism:           true,
	kafka.TransactionalIDAuthorizationFailed: true,
	kafka.InvalidRequiredAcks:                true,
}

// classifyCause classifies a kafka-go or network error.
func classifyCause(err error) Class {
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch {
		case ke == kafka.ThrottlingQuotaExceeded:
			return Throttled
		case rejectedCodes[ke]:
			return Rejected
		case fatalCodes[ke]:
			return Fatal
		}
		return Retryable // retriable codes, and unknown ones: keep the rows, back off
	}
	var mtl kafka.MessageTooLargeError
	if errors.As(err, &mtl) {
		return Rejected
	}
	return Retryable // network errors, timeouts, EOF, closed connections
}

// saslFailure reports whether err happened during SASL authentication (the broker closed the
// connection or answered an authentication error).
func saslFailure(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) && fatalCodes[ke] {
		return true
	}
	return false
}

// connectionClosed reports a connection the broker closed (how many brokers answer a failed
// SASL authentication).
func connectionClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.EPIPE)
}

// redact removes every secret from err's text (defence in depth: kafka-go never puts the SASL
// password in an error, but a future version or a proxy message might).
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if len(s) >= 4 && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "[REDACTED]")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &redacted{msg: msg, err: err}
}

// redacted keeps the chain (errors.Is/As) with a scrubbed text.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// isCanceled reports a context error of the caller (not of the broker).
func isCanceled(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

package sink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Class is the outcome class of a sink call.
type Class int

// Outcome classes, decided once at the sink boundary (classify).
const (
	OK        Class = iota
	Throttled       // 429: wait RetryAfter, then resend
	Retryable       // 408/5xx/network/shutdown/refused token: backoff, resend
	Rejected        // 400/413 on POST rows: bisect, dead-letter single rows
	Fatal           // 403, 404 after re-resolve, not a push dataset: park the dataset
)

func (c Class) String() string {
	switch c {
	case OK:
		return "ok"
	case Throttled:
		return "throttled"
	case Retryable:
		return "retryable"
	case Rejected:
		return "rejected"
	case Fatal:
		return "fatal"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Error is a classified sink failure. Err (if any) is the transport or underlying cause, so
// errors.Is(err, context.Canceled) holds for a call cancelled at shutdown.
type Error struct {
	Op         string        // what was attempted, e.g. `post rows to "sales"/"orders"`
	Class      Class         // outcome class
	Status     int           // HTTP status; 0 when no response
	Code       string        // service error code (error.code), if any
	Message    string        // service message (error.message + details), if any
	Hint       string        // what the operator can do about it, if known
	RetryAfter time.Duration // 429 only: the delay the service asked for (0 = unknown)
	// Auth marks a refused token (a fresh one refused again) or a failed token request: the
	// dataset is auth-failed; the call is Retryable.
	Auth bool
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Classify returns err's class: OK for nil, the *Error's class, Retryable for a cancelled or
// timed-out context and for any unclassified error (parked and retried, never dropped).
func Classify(err error) Class {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Retryable
}

// RetryAfter returns the delay the service asked for (429 Retry-After), or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && e.Class == Throttled {
		return e.RetryAfter
	}
	return 0
}

// Message returns the service's message for err (error.message and details) for dead letters,
// or err's text when the service said nothing; "" for nil.
func Message(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return err.Error()
}

// IsAuth reports whether err is an authentication failure: a fresh token refused by the
// service, or no token from the identity provider (errors.As to *auth.Error tells which).
func IsAuth(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Auth
}

// IsShutdown reports whether err comes from a cancelled context (shutdown), not the service.
func IsShutdown(err error) bool {
	return errors.Is(err, context.Canceled)
}

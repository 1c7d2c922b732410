package batcher

import "time"

// Class is a classified send result. Destinations classify their own errors (Destination.
// Classify); the scheduler and dispatcher act on the class only.
type Class int

// Classes of a send result.
const (
	OK        Class = iota
	Throttled       // the destination asks to slow down: pause it (RetryAfter, or back off)
	Retryable       // transient failure: back off, send the rows again
	Rejected        // the destination refused the rows: bisect; a single row is dead-lettered
	Fatal           // the destination is unusable (credentials, permissions): stop it
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
	}
	return "fatal"
}

// Outcome is a classified send result.
type Outcome struct {
	Class      Class
	RetryAfter time.Duration // Throttled: the destination's retry delay (0 = none given)
	Message    string        // Rejected: the destination's message, kept with dead letters
	// Rows, when set (one per row sent, in order), gives each row its own outcome: a destination
	// that accepts part of a send (Kafka: per partition) says which rows it delivered, which
	// it refused (dead-lettered at once, no bisecting) and which to send again.
	Rows []Outcome
}

// ClassifyFunc classifies a send error (nil = OK).
type ClassifyFunc func(error) Outcome

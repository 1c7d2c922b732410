package batcher

import (
	"math/rand/v2"
	"time"
)

// AIMD tuning: a 429 the local budget did not predict (every 429, since pbi-pusher never exceeds
// its own budget) means another writer shares the dataset. A 429 is only honoured (Retry-After);
// a repeated one (within aimdRepeat of the previous) also lowers the local rate by aimdDecrease,
// but not below the rate the service accepted over the last aimdMeasure (the Retry-After pauses
// already hold pbi-pusher to that rate; going lower would leave budget unused).
// After aimdQuiet without a 429, successful POSTs raise it by aimdIncrease of the configured
// limits per minute, up to 1 (never above the configuration).
const (
	aimdDecrease = 0.9
	aimdIncrease = 0.05 // per minute
	aimdRepeat   = 2 * time.Minute
	aimdQuiet    = time.Minute
	aimdMin      = 0.05
	aimdMeasure  = 10 * time.Minute
)

// aimd is the multiplier applied to every configured rate.
type aimd struct {
	m            float64   // in [aimdMin, 1]
	lastThrottle time.Time // response time of the last counted 429
	lastRaise    time.Time
	streak       int // counted 429s since the last quiet period
}

func newAIMD() aimd { return aimd{m: 1} }

// throttled accounts a 429 for a POST sent at sentAt; accepted is the share of the configured
// rate the service accepted lately. A POST sent before the previous 429 arrived was sent blind
// and is not counted again. It reports whether the multiplier changed.
func (a *aimd) throttled(now, sentAt time.Time, accepted float64) bool {
	if sentAt.Before(a.lastThrottle) {
		return false
	}
	if now.Sub(a.lastThrottle) >= aimdRepeat {
		a.streak = 0 // not repeated: the previous 429 is long gone
	}
	a.lastThrottle = now
	a.streak++
	if a.streak < 2 {
		return false
	}
	old := a.m
	a.m = max(aimdMin, a.m*aimdDecrease, min(a.m, accepted))
	return a.m != old
}

// ok accounts a successful POST at now. It reports whether the multiplier changed.
func (a *aimd) ok(now time.Time) bool {
	from := a.lastThrottle.Add(aimdQuiet)
	if now.Before(from) || a.m >= 1 {
		return false
	}
	if a.lastRaise.After(from) {
		from = a.lastRaise
	}
	a.lastRaise = now
	a.m = min(1, a.m+aimdIncrease*now.Sub(from).Minutes())
	return true
}

// Retry backoff for Retryable errors and for 429s without Retry-After.
const (
	backoffBase = time.Second
	backoffCap  = time.Minute
)

// backoff is a capped exponential backoff with jitter.
type backoff struct {
	attempt int
	jitter  func(time.Duration) time.Duration
}

// next returns the next wait and counts the attempt.
func (b *backoff) next() time.Duration {
	d := backoffCap
	if b.attempt < 6 { // 1s << 6 > cap
		d = min(backoffCap, backoffBase<<b.attempt)
	}
	b.attempt++
	return b.jitter(d)
}

func (b *backoff) reset() { b.attempt = 0 }

// fullJitter returns a random duration in [d/2, d].
func fullJitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

package batcher

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// pacer spreads a rate evenly (golang.org/x/time/rate, always called with explicit times) and
// can take back tokens of a POST the service refused (429/400). rate.Reservation.CancelAt only
// restores tokens before the reservation acts, so refunds are kept as credit: the tokens
// available are min(burst, limiter tokens + credit).
//
// The pacer only smooths; the rolling windows are what guarantee the limits.
type pacer struct {
	lim    *rate.Limiter
	credit float64
}

// newPacer returns a full pacer of perSecond with burst.
func newPacer(perSecond float64, burst int) *pacer {
	return &pacer{lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// set changes the rate and burst at now (tokens already earned are kept, up to burst).
func (p *pacer) set(now time.Time, perSecond float64, burst int) {
	p.lim.SetLimitAt(now, rate.Limit(perSecond))
	p.lim.SetBurstAt(now, burst)
}

// avail returns the tokens available at now.
func (p *pacer) avail(now time.Time) float64 {
	return min(float64(p.lim.Burst()), p.lim.TokensAt(now)+p.credit)
}

// delay returns how long until n tokens are available; n must not exceed the burst.
func (p *pacer) delay(now time.Time, n int) time.Duration {
	need := float64(n) - p.avail(now)
	if need <= 0 {
		return 0
	}
	if p.lim.Limit() <= 0 {
		return Forever
	}
	secs := need / float64(p.lim.Limit())
	// Round up to the microsecond so the caller wakes when the tokens are really there.
	return time.Duration(math.Ceil(secs*1e6)) * time.Microsecond
}

// take spends n tokens at now, going into debt if needed (the caller checked delay first).
func (p *pacer) take(now time.Time, n int) {
	want := p.avail(now) - float64(n)
	p.lim.ReserveN(now, n) // n <= burst: always OK; the limiter may go negative
	p.credit = max(0, want-p.lim.TokensAt(now))
}

// refund gives n tokens back at now, up to a full bucket.
func (p *pacer) refund(now time.Time, n int) {
	p.credit = max(0, min(p.credit+float64(n), float64(p.lim.Burst())-p.lim.TokensAt(now)))
}

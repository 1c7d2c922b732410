package progress

import (
	"fmt"
	"math"
	"time"
)

// estimate is an ETA and what bounds it.
type estimate struct {
	d     time.Duration
	known bool
	bound string // the binding limit's name from the drain model, or "hourly budget" or "rate"
}

func (e estimate) text() string {
	if !e.known {
		return "unknown"
	}
	return "~" + human(e.d)
}

// remaining is the rows still to deliver: records not read yet plus the spooled backlog. ok is
// false while reading input of unknown size.
func (d *Display) remaining() (int64, bool) {
	s := d.last
	if d.total > 0 {
		return max(d.total-s.Read-s.Resumed, 0) + int64(s.Backlog), true
	}
	return int64(s.Backlog), !s.Reading
}

// eta estimates the time left. When more than an hour's row budget remains, the budget is the
// bottleneck whatever the current burst rate: remaining ÷ rows_per_hour hours (a 10M-row file
// says ~10 h up front). Otherwise the smoothed rate decides, or the budget before any rate.
func (d *Display) eta() estimate {
	if s := d.last; s.ETAKnown {
		return estimate{d: s.ETA, known: true, bound: s.Binding}
	}
	left, ok := d.remaining()
	if !ok {
		return estimate{}
	}
	if left == 0 {
		return estimate{known: true, bound: "rate"}
	}
	var budget, byRate time.Duration
	if d.rph > 0 {
		budget = seconds(float64(left) / float64(d.rph) * 3600)
	}
	if d.rate >= 0.5 {
		byRate = seconds(float64(left) / d.rate)
	}
	switch {
	case budget > 0 && (left > int64(d.rph) || byRate == 0) && budget >= byRate:
		return estimate{d: budget, known: true, bound: "hourly budget"}
	case byRate > 0:
		return estimate{d: byRate, known: true, bound: "rate"}
	}
	return estimate{}
}

func seconds(s float64) time.Duration {
	return time.Duration(math.Min(s, float64(math.MaxInt64/int64(time.Second))) * float64(time.Second))
}

// human formats d as 45s, 12m05s or 9h07m.
func human(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

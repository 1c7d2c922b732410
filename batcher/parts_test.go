package batcher

import (
	"testing"
	"time"
)

func TestWindowWaits(t *testing.T) {
	s := time.Second
	tests := []struct {
		name      string
		posts     []int // rows of POSTs sent at t0, t0+1s, ...
		refund    int   // index of a POST to refund (-1 none)
		at        time.Duration
		n, limit  int
		wantRows  time.Duration
		wantCount time.Duration // one more POST under 2 per minute
	}{
		{name: "room now", posts: []int{10, 10}, refund: -1, at: 2 * s, n: 5, limit: 30, wantRows: 0, wantCount: 58 * s},
		{name: "oldest must expire", posts: []int{10, 10, 10}, refund: -1, at: 3 * s, n: 5, limit: 30, wantRows: time.Hour - 3*s, wantCount: 58 * s},
		{name: "two must expire", posts: []int{10, 10, 10}, refund: -1, at: 3 * s, n: 15, limit: 30, wantRows: time.Hour - 2*s, wantCount: 58 * s},
		{name: "refunded rows free room", posts: []int{10, 10, 10}, refund: 1, at: 3 * s, n: 10, limit: 30, wantRows: 0, wantCount: 58 * s},
		{name: "expiry is exact", posts: []int{10, 10}, refund: -1, at: time.Hour, n: 20, limit: 30, wantRows: 0, wantCount: 0},
		{name: "never fits", posts: nil, refund: -1, at: 0, n: 31, limit: 30, wantRows: Forever, wantCount: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w window
			var ids []uint64
			for i, r := range tc.posts {
				ids = append(ids, w.add(t0.Add(time.Duration(i)*s), r))
			}
			if tc.refund >= 0 {
				w.refund(ids[tc.refund])
			}
			now := t0.Add(tc.at)
			w.prune(now)
			if got := w.rowsWait(now, tc.n, tc.limit); got != tc.wantRows {
				t.Errorf("rowsWait = %v, want %v", got, tc.wantRows)
			}
			if got := w.countWait(now, minute, 2); got != tc.wantCount {
				t.Errorf("countWait = %v, want %v", got, tc.wantCount)
			}
		})
	}
}

func TestPacer(t *testing.T) {
	p := newPacer(100, 1000) // 100 tokens/s, full at 1000
	if d := p.delay(t0, 1000); d != 0 {
		t.Fatalf("new pacer delay %v, want 0 (starts full)", d)
	}
	p.take(t0, 1000)
	if d := p.delay(t0, 500); d != 5*time.Second {
		t.Errorf("delay for 500 after emptying = %v, want 5s", d)
	}
	p.refund(t0.Add(time.Second), 1000) // 100 earned + 1000 back, capped at the burst
	if a := p.avail(t0.Add(time.Second)); a != 1000 {
		t.Errorf("avail after refund = %v, want 1000", a)
	}
	p.take(t0.Add(time.Second), 1000)
	if d := p.delay(t0.Add(time.Second), 1000); d != 10*time.Second {
		t.Errorf("delay after spending the refund = %v, want 10s", d)
	}
	p.set(t0.Add(time.Second), 200, 1000)
	if d := p.delay(t0.Add(time.Second), 1000); d != 5*time.Second {
		t.Errorf("delay at the doubled rate = %v, want 5s", d)
	}
}

func TestAIMD(t *testing.T) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name   string
		events func(a *aimd)
		want   float64
	}{
		{name: "one 429 is only honoured", events: func(a *aimd) { a.throttled(at(0), at(0), 0) }, want: 1},
		{name: "repeated 429s decrease", events: func(a *aimd) {
			a.throttled(at(0), at(0), 0)
			a.throttled(at(time.Minute), at(30*time.Second), 0)
			a.throttled(at(2*time.Minute), at(90*time.Second), 0)
		}, want: 0.81},
		{name: "429s of POSTs sent blind count once", events: func(a *aimd) {
			a.throttled(at(10*time.Second), at(0), 0)
			a.throttled(at(11*time.Second), at(1*time.Second), 0)
			a.throttled(at(12*time.Second), at(2*time.Second), 0)
		}, want: 1},
		{name: "not below the accepted rate", events: func(a *aimd) {
			for i := range 30 {
				a.throttled(at(time.Duration(i)*time.Second), at(time.Duration(i)*time.Second), 0.6)
			}
		}, want: 0.6},
		{name: "floor aimdMin", events: func(a *aimd) {
			for i := range 100 {
				a.throttled(at(time.Duration(i)*time.Second), at(time.Duration(i)*time.Second), 0)
			}
		}, want: aimdMin},
		{name: "additive raise after a quiet minute", events: func(a *aimd) {
			a.m = 0.5
			a.lastThrottle = at(0)
			a.ok(at(30 * time.Second)) // not quiet yet
			a.ok(at(3 * time.Minute))  // 2 min after the quiet minute
		}, want: 0.6},
		{name: "never above 1", events: func(a *aimd) {
			a.m = 0.9
			a.ok(at(time.Hour))
		}, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAIMD()
			tc.events(&a)
			if diff := a.m - tc.want; diff > 1e-9 || diff < -1e-9 {
				t.Errorf("multiplier %v, want %v", a.m, tc.want)
			}
		})
	}
}

package batcher

import (
	"slices"
	"time"
)

// This file is a discrete-event harness for the Scheduler: virtual time jumps from event to
// event (a decision's wait, a POST result, an arrival), so hours of traffic run in milliseconds.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// chunk is a run of consecutive rows (seq..seq+n-1) appended at the same time.
type chunk struct {
	seq uint64
	n   int
	at  time.Time
}

// simQueue is one table's FIFO of ready rows, compact for millions of rows.
type simQueue struct {
	chunks  []chunk
	rows    int
	nextSeq uint64
}

func (q *simQueue) push(n int, at time.Time) {
	q.chunks = append(q.chunks, chunk{seq: q.nextSeq, n: n, at: at})
	q.nextSeq += uint64(n)
	q.rows += n
}

func (q *simQueue) take(n int) []chunk {
	var out []chunk
	for n > 0 && len(q.chunks) > 0 {
		c := q.chunks[0]
		k := min(n, c.n)
		out = append(out, chunk{seq: c.seq, n: k, at: c.at})
		if k == c.n {
			q.chunks = q.chunks[1:]
		} else {
			q.chunks[0] = chunk{seq: c.seq + uint64(k), n: c.n - k, at: c.at}
		}
		n -= k
		q.rows -= k
	}
	return out
}

// nack puts rows back at the head, in order.
func (q *simQueue) nack(cs []chunk) {
	q.chunks = append(slices.Clone(cs), q.chunks...)
	for _, c := range cs {
		q.rows += c.n
	}
}

func (q *simQueue) oldest() time.Time {
	if len(q.chunks) == 0 {
		return time.Time{}
	}
	return q.chunks[0].at
}

// simPost is one POST as the service saw it.
type simPost struct {
	at     time.Time
	table  string
	rows   int
	class  Class
	maxLat time.Duration // longest wait of one of its rows since append
}

type flight struct {
	done   time.Time
	tk     Ticket
	chunks []chunk
	out    Outcome
}

// server decides the outcome of a POST of chunks of table at now.
type server func(now time.Time, table string, rows []chunk) Outcome

func okServer(time.Time, string, []chunk) Outcome { return Outcome{Class: OK} }

type sim struct {
	s        *Scheduler
	now      time.Time
	tables   []string
	q        map[string]*simQueue
	latency  time.Duration
	srv      server
	arrive   func(now time.Time) time.Time // adds rows due at now; returns the next arrival time
	flights  []flight
	posts    []simPost
	accepted map[string]int
	dead     []uint64 // dead-lettered row seqs
	maxIn    int
	onResult func(now time.Time, out Outcome)
}

func newSim(c SchedulerConfig) *sim {
	c.Jitter = func(d time.Duration) time.Duration { return d }
	m := &sim{s: NewScheduler(t0, c), now: t0, tables: c.Tables, q: map[string]*simQueue{},
		srv: okServer, accepted: map[string]int{}}
	for _, t := range c.Tables {
		m.q[t] = &simQueue{}
	}
	return m
}

// run advances virtual time until until, or until nothing can happen any more.
func (m *sim) run(until time.Time) {
	nextArrival := time.Time{}
	if m.arrive != nil {
		nextArrival = m.arrive(m.now)
	}
	for !m.now.After(until) {
		m.finishDue()
		if m.arrive != nil && !m.now.Before(nextArrival) {
			nextArrival = m.arrive(m.now)
		}
		wait := m.decide()
		next := m.now.Add(min(wait, 1000*time.Hour))
		if m.arrive != nil && nextArrival.Before(next) {
			next = nextArrival
		}
		for _, f := range m.flights {
			if f.done.Before(next) {
				next = f.done
			}
		}
		if wait == Forever && len(m.flights) == 0 && m.arrive == nil {
			return
		}
		m.now = next
	}
}

// decide starts every POST the scheduler allows now and returns the wait it then asks for.
func (m *sim) decide() time.Duration {
	for {
		for _, t := range m.tables {
			m.s.SetBacklog(t, m.q[t].rows, m.q[t].oldest())
		}
		d := m.s.Next(m.now)
		if d.Rows == 0 {
			return d.Wait
		}
		cs := m.q[d.Table].take(d.Rows)
		tk := m.s.Sent(m.now, d.Table, d.Rows)
		p := simPost{at: m.now, table: d.Table, rows: d.Rows}
		for _, c := range cs {
			p.maxLat = max(p.maxLat, m.now.Sub(c.at))
		}
		out := m.srv(m.now, d.Table, cs)
		p.class = out.Class
		m.posts = append(m.posts, p)
		m.flights = append(m.flights, flight{done: m.now.Add(m.latency), tk: tk, chunks: cs, out: out})
		m.maxIn = max(m.maxIn, m.s.inflight)
	}
}

func (m *sim) finishDue() {
	keep := m.flights[:0]
	for _, f := range m.flights {
		if f.done.After(m.now) {
			keep = append(keep, f)
			continue
		}
		m.s.Result(m.now, f.tk, f.out)
		m.settle(f)
		if m.onResult != nil {
			m.onResult(m.now, f.out)
		}
	}
	m.flights = keep
}

// settle does what the dispatcher does with the batch: Ack, Nack or dead-letter.
func (m *sim) settle(f flight) {
	switch {
	case f.out.Class == OK:
		m.accepted[f.tk.Table] += f.tk.Rows
	case f.out.Class == Rejected && f.tk.Rows == 1:
		m.dead = append(m.dead, f.chunks[0].seq)
	default:
		m.q[f.tk.Table].nack(f.chunks)
	}
}

// maxInWindow returns the largest sum of weight(p) over posts sent within any span.
func maxInWindow(posts []simPost, span time.Duration, weight func(simPost) int) int {
	return maxInWindowFrom(posts, 0, span, weight)
}

// maxInWindowFrom is maxInWindow over the windows that end at posts[from:].
func maxInWindowFrom(posts []simPost, from int, span time.Duration, weight func(simPost) int) int {
	best, sum, j := 0, 0, 0
	for i, p := range posts {
		sum += weight(p)
		for p.at.Sub(posts[j].at) >= span {
			sum -= weight(posts[j])
			j++
		}
		if i >= from {
			best = max(best, sum)
		}
	}
	return best
}

func rowsOf(p simPost) int { return p.rows }

func acceptedRows(p simPost) int {
	if p.class == OK {
		return p.rows
	}
	return 0
}

func one(simPost) int { return 1 }

package batcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// result is a finished POST, sent back to the Run loop.
type result struct {
	tk  Ticket
	b   *spool.Batch
	err error
}

// run is the state of one Run call.
type run struct {
	d       *Dispatcher
	results chan result
	stop    chan struct{} // closed when Run returns: late POST goroutines exit
	held    map[*spool.Batch]heldPost
}

// heldPost is a POST in flight: its ticket and the bytes of the Budget it holds.
type heldPost struct {
	tk   Ticket
	cost int64
}

// Run posts until ctx is done, then waits for in-flight POSTs (bounded by Options.Abort) and
// returns nil. It returns early with the error when the dataset hits a Fatal error (or the spool
// fails); its rows stay spooled.
func (d *Dispatcher) Run(ctx context.Context) error {
	r := &run{d: d, results: make(chan result), stop: make(chan struct{}), held: map[*spool.Batch]heldPost{}}
	defer close(r.stop)
	d.log.Info("dispatcher started", "tables", len(d.keys))
	r.seed()
	err := r.loop(ctx)
	if derr := r.drain(); err == nil {
		err = derr
	}
	if err != nil {
		d.log.Error("dispatcher stopped", "err", err)
		return fmt.Errorf("dataset %q: %w", d.o.Dataset.Name, err)
	}
	d.log.Info("dispatcher stopped")
	return nil
}

// loop starts POSTs as the scheduler allows until ctx is done or a fatal error.
func (r *run) loop(ctx context.Context) error {
	for ctx.Err() == nil {
		wait, room, err := r.startAll()
		if err != nil {
			return err
		}
		timer := r.d.clock.After(min(wait, r.d.o.Poll))
		select {
		case <-ctx.Done():
			return nil
		case <-r.d.o.Queue.Notify():
		case <-r.d.wake:
		case <-room:
		case <-timer:
		case res := <-r.results:
			if err := r.settle(res, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// startAll starts every POST the scheduler allows now and returns how long to wait after, and,
// when the memory budget held a POST back, a channel closed once the budget has room.
func (r *run) startAll() (time.Duration, <-chan struct{}, error) {
	d := r.d
	for {
		d.mu.Lock()
		now := d.clock.Now()
		r.refresh()
		dec := d.sched.Next(now)
		d.mu.Unlock()
		if dec.Rows == 0 {
			return dec.Wait, nil, nil
		}
		key := d.keys[dec.Table]
		room := d.o.Budget.freed() // before trying: a release in between still wakes us
		cost := r.estimate(key, dec.Rows)
		if !d.o.Budget.tryAcquire(cost) {
			return Forever, room, nil
		}
		b, err := d.o.Queue.Take(key, dec.Rows, d.maxBytes)
		if err != nil || b == nil || len(b.Rows) == 0 {
			d.o.Budget.release(cost)
		}
		if errors.Is(err, spool.ErrNoSpace) {
			return d.o.Poll, nil, nil // disk full: the spool logs it; try again, never stop delivery
		}
		if err != nil {
			return 0, nil, fmt.Errorf("take %s: %w", dec.Table, err)
		}
		if b == nil || len(b.Rows) == 0 {
			return d.o.Poll, nil, nil // the backlog changed under us: look again later
		}
		actual := batchCost(len(b.Rows), int64(b.Bytes))
		d.o.Budget.adjust(actual - cost)
		d.mu.Lock()
		sentAt := d.clock.Now()
		tk := d.sched.Sent(sentAt, dec.Table, len(b.Rows))
		d.mu.Unlock()
		r.record(sentAt, len(b.Rows))
		r.held[b] = heldPost{tk: tk, cost: actual}
		go r.post(tk, b)
	}
}

// estimate returns the Budget cost of taking rows rows of key (the backlog's mean row size).
func (r *run) estimate(key spool.QueueKey, rows int) int64 {
	bl := r.d.o.Queue.Backlog(key)
	mean := int64(0)
	if bl.Rows > 0 {
		mean = bl.Bytes / int64(bl.Rows)
	}
	return batchCost(rows, mean*int64(rows))
}

// refresh copies the spool's backlog into the scheduler. Caller holds d.mu.
func (r *run) refresh() {
	for name, key := range r.d.keys {
		bl := r.d.o.Queue.Backlog(key)
		r.d.sched.SetBacklog(name, bl.Rows, bl.Oldest)
		r.d.sched.SetRequeued(r.d.clock.Now(), name, bl.Requeued)
	}
}

// record persists a POST before it is sent. A failure is logged, not fatal: the in-memory windows
// still hold the POST; only a restart within the hour would forget it.
func (r *run) record(at time.Time, rows int) {
	if r.d.o.PostLog == nil {
		return
	}
	if err := r.d.o.PostLog.RecordPost(r.d.o.Dataset.Name, at, rows); err != nil {
		r.d.log.Warn("record post for the rolling windows", "err", err)
	}
}

// seed copies the spool's delivered counts (the large tier) into the scheduler.
func (r *run) seed() {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	for name, key := range d.keys {
		d.sched.SetDelivered(now, name, d.o.Queue.Delivered(key))
	}
	if d.o.PostLog == nil {
		return
	}
	posts, err := d.o.PostLog.RecentPosts(d.o.Dataset.Name, now.Add(-hour))
	if err != nil {
		d.log.Warn("read the POSTs of the last hour; windows start empty", "err", err)
		return
	}
	d.sched.Preload(now, posts)
	if len(posts) > 0 {
		d.log.Info("rolling windows restored from the spool", "posts", len(posts))
	}
}

// post sends one batch; it ends with Options.Abort, not with Run's ctx, so shutdown lets it finish.
func (r *run) post(tk Ticket, b *spool.Batch) {
	err := r.d.o.Destination.Send(r.d.o.Abort, b.Queue, b.Rows)
	select {
	case r.results <- result{tk: tk, b: b, err: err}:
	case <-r.stop:
	}
}

// errFatal marks a result that stops the dataset.
var errFatal = errors.New("fatal POST error")

// settle records a finished POST and does what its outcome asks of the spool.
func (r *run) settle(res result, running bool) error {
	d := r.d
	d.o.Budget.release(r.held[res.b].cost)
	delete(r.held, res.b)
	o := d.o.Destination.Classify(res.err)
	if len(o.Rows) == len(res.b.Rows) && len(o.Rows) > 0 {
		return r.settleRows(res, o, running)
	}
	d.mu.Lock()
	now := d.clock.Now()
	before := d.sched.Usage(now).Multiplier
	d.sched.Result(now, res.tk, o)
	mult := d.sched.Usage(now).Multiplier
	d.mu.Unlock()
	if mult < before {
		d.log.Info("service throttling: local rate lowered", "rate_share", mult)
	}
	key := res.b.Queue
	switch {
	case o.Class == OK:
		if err := d.o.Queue.Ack(res.b); err != nil {
			return fmt.Errorf("ack %s: %w", key, err)
		}
		d.mu.Lock()
		d.sched.SetDelivered(d.clock.Now(), res.tk.Table, d.o.Queue.Delivered(key))
		d.mu.Unlock()
		return nil
	case o.Class == Rejected && len(res.b.Rows) == 1:
		d.log.Debug("row rejected, dead-lettered", "table", res.tk.Table, "reason", o.Message)
		return wrap("reject", key, d.o.Queue.Reject(res.b, o.Message))
	}
	if err := d.o.Queue.Nack(res.b); err != nil {
		return fmt.Errorf("nack %s: %w", key, err)
	}
	return r.report(res, o, mult, running)
}

// report logs state changes of a failed POST and turns a fatal one into Run's error.
func (r *run) report(res result, o Outcome, mult float64, running bool) error {
	switch o.Class {
	case Throttled:
		r.d.log.Debug("throttled", "table", res.tk.Table, "retry_after", o.RetryAfter, "rate_share", mult)
	case Retryable:
		r.d.log.Debug("POST failed, retrying", "table", res.tk.Table, "err", res.err)
	case Rejected:
		r.d.log.Debug("POST rejected, bisecting", "table", res.tk.Table, "rows", res.tk.Rows)
	case OK:
	default:
		if running {
			return fmt.Errorf("%w: table %s: %w", errFatal, res.tk.Table, res.err)
		}
	}
	return nil
}

func wrap(op string, key spool.QueueKey, err error) error {
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	return nil
}

// abortGrace is how long drain still waits, once Options.Abort is done, for the POSTs it
// cancelled to report back: an answer that arrived (a 2xx above all) is settled as it is, and
// only the batches whose outcome stays unknown are Nacked (sent again: the one duplicate the
// protocol forces).
const abortGrace = 2 * time.Second

// drain waits for the POSTs in flight until Options.Abort is done, then, for at most abortGrace,
// for the answers of the cancelled ones; it Nacks what is left. A result that arrived is always
// settled before anything is Nacked.
func (r *run) drain() error {
	var first error
	abort := r.d.o.Abort.Done()
	var grace <-chan time.Time
	settle := func(res result) {
		if err := r.settle(res, false); err != nil && first == nil {
			first = err
		}
	}
	for len(r.held) > 0 {
		select {
		case res := <-r.results: // an answer already here goes first, whatever else is ready
			settle(res)
			continue
		default:
		}
		select {
		case res := <-r.results:
			settle(res)
		case <-abort:
			abort, grace = nil, r.d.clock.After(abortGrace)
		case <-grace:
			return r.nackHeld(first)
		}
	}
	return first
}

// nackHeld returns every batch still in flight to its queue (their POSTs were abandoned).
func (r *run) nackHeld(first error) error {
	for b, h := range r.held {
		tk := h.tk
		r.d.mu.Lock()
		r.d.sched.Result(r.d.clock.Now(), tk, Outcome{Class: Retryable})
		r.d.mu.Unlock()
		if err := r.d.o.Queue.Nack(b); err != nil && first == nil {
			first = fmt.Errorf("nack %s: %w", b.Queue, err)
		}
		r.d.o.Budget.release(h.cost)
		delete(r.held, b)
	}
	return first
}

// settleRows answers a send whose rows have outcomes of their own: delivered rows are acked,
// refused rows dead-lettered with the destination's message (no bisecting: the destination
// named them), the rest returned to the queue. The scheduler sees the send as the most severe
// outcome of the rows to send again (fatal, throttled, retryable), or OK.
func (r *run) settleRows(res result, o Outcome, running bool) error {
	d := r.d
	var ok, again []spool.Row
	var refused []spool.Row
	var reasons []string
	sum := Outcome{Class: OK}
	rank := map[Class]int{OK: 0, Retryable: 1, Throttled: 2, Fatal: 3}
	for i, ro := range o.Rows {
		row := res.b.Rows[i]
		switch ro.Class {
		case OK:
			ok = append(ok, row)
		case Rejected:
			refused, reasons = append(refused, row), append(reasons, ro.Message)
		default:
			again = append(again, row)
			if rank[ro.Class] > rank[sum.Class] {
				sum.Class, sum.Message = ro.Class, ro.Message
			}
			sum.RetryAfter = max(sum.RetryAfter, ro.RetryAfter)
		}
	}
	d.mu.Lock()
	d.sched.Result(d.clock.Now(), res.tk, sum)
	mult := d.sched.Usage(d.clock.Now()).Multiplier
	d.mu.Unlock()
	key := res.b.Queue
	if len(ok) > 0 {
		if err := d.o.Queue.Ack(subBatch(key, ok)); err != nil {
			return fmt.Errorf("ack %s: %w", key, err)
		}
		d.mu.Lock()
		d.sched.SetDelivered(d.clock.Now(), res.tk.Table, d.o.Queue.Delivered(key))
		d.mu.Unlock()
	}
	for i, row := range refused {
		d.log.Debug("row rejected, dead-lettered", "table", res.tk.Table, "reason", reasons[i])
		if err := d.o.Queue.Reject(subBatch(key, []spool.Row{row}), reasons[i]); err != nil {
			return fmt.Errorf("reject %s: %w", key, err)
		}
	}
	if len(again) == 0 {
		return nil
	}
	if err := d.o.Queue.Nack(subBatch(key, again)); err != nil {
		return fmt.Errorf("nack %s: %w", key, err)
	}
	return r.report(res, sum, mult, running)
}

func subBatch(q spool.QueueKey, rows []spool.Row) *spool.Batch {
	b := &spool.Batch{Queue: q, Rows: rows}
	for _, r := range rows {
		b.Bytes += len(r.Data)
	}
	return b
}

package admin

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// Dead-letter reasons: a small, fixed label set.
const (
	ReasonDecode   = "decode"   // the input record did not parse
	ReasonSchema   = "schema"   // the table's schema refused the record
	ReasonRejected = "rejected" // Power BI refused the row (400 after bisection)
)

var reasons = []string{ReasonDecode, ReasonSchema, ReasonRejected}

// tableCount is the event counts of one table since the process started.
type tableCount struct {
	read, spooled int64
	dead          map[string]int64
}

// tableCounts holds per-table event counts.
type tableCounts struct {
	mu sync.Mutex
	m  map[spool.QueueKey]*tableCount
}

func newTableCounts() *tableCounts { return &tableCounts{m: map[spool.QueueKey]*tableCount{}} }

func (c *tableCounts) add(q spool.QueueKey, read, spooled int64, dead map[string]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.m[q]
	if t == nil {
		t = &tableCount{dead: map[string]int64{}}
		c.m[q] = t
	}
	t.read += read
	t.spooled += spooled
	for r, n := range dead {
		t.dead[r] += n
	}
}

// get returns a copy of q's counts (zero when nothing happened yet).
func (c *tableCounts) get(q spool.QueueKey) tableCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := tableCount{dead: make(map[string]int64, len(reasons))}
	for _, r := range reasons {
		out.dead[r] = 0
	}
	if t := c.m[q]; t != nil {
		out.read, out.spooled = t.read, t.spooled
		for r, n := range t.dead {
			out.dead[r] = n
		}
	}
	return out
}

// postCounts counts POST rows requests by status code ("error" for transport failures).
type postCounts struct {
	mu       sync.Mutex
	byCode   map[string]int64
	inFlight atomic.Int64
}

func newPostCounts() *postCounts { return &postCounts{byCode: map[string]int64{}} }

func (p *postCounts) add(status int) {
	code := "error"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	p.mu.Lock()
	p.byCode[code]++
	p.mu.Unlock()
}

func (p *postCounts) snapshot() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int64, len(p.byCode))
	for k, v := range p.byCode {
		out[k] = v
	}
	return out
}

// tokenCounts counts token source activity.
type tokenCounts struct {
	ok, failed, refreshes, invalidations atomic.Int64
}

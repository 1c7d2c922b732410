package pipeline

import (
	"context"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// leadPoll is how often a held source looks at the spool again.
const leadPoll = 100 * time.Millisecond

// LeadGate bounds how far a Kafka source reads ahead of delivery (sources[].max_lead and
// max_lead_rows): it lets the source fetch while the table's spooled rows not yet posted are
// fewer than max_lead of this instance's share of the dataset's rate, at most max_lead_rows and
// at least two full POSTs. The backlog beyond stays in Kafka, where a rebalance moves it to the
// members that join (batcher/share.go gives each its part of the budget).
type LeadGate struct {
	p       *Pipeline
	q       spool.QueueKey
	limits  config.Limits
	lead    time.Duration
	maxRows int
}

// LeadGate returns the gate for Kafka source sc.
func (p *Pipeline) LeadGate(sc config.Source) (*LeadGate, error) {
	ds, t, err := p.cfg.FindTable(sc.Table)
	if err != nil {
		return nil, err
	}
	lead, rows := time.Duration(sc.MaxLead), sc.MaxLeadRows
	if lead <= 0 {
		lead = config.DefaultMaxLead
	}
	if rows <= 0 {
		rows = config.DefaultMaxLeadRows
	}
	return &LeadGate{p: p, q: spool.QueueKey{Dataset: ds.Name, Table: t.Name}, limits: ds.Limits, lead: lead, maxRows: rows}, nil
}

// Allowed returns how many rows may wait in the spool now.
func (g *LeadGate) Allowed() int {
	l := g.limits
	share, large := 1.0, false
	if d := g.p.Dispatcher(g.q.Dataset); d != nil {
		u := d.Usage()
		share, large = u.Share, u.LargeTier
	}
	perPost := max(l.RowsPerPost, 1)
	perHour := float64(min(l.RowsPerHour, l.PostsPerMinute*60*perPost))
	if large {
		perHour = float64(min(l.RowsPerHour, l.PostsPerHourLarge*perPost))
	}
	rows := int(perHour * share * g.lead.Hours())
	return max(2*perPost, min(g.maxRows, rows))
}

// Wait returns once the table's backlog is under Allowed, or with ctx's error.
func (g *LeadGate) Wait(ctx context.Context) error {
	for g.p.Spool.Backlog(g.q).Rows >= g.Allowed() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(leadPoll):
		}
	}
	return nil
}

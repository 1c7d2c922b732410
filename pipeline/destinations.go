package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pbi-pusher/pbi-pusher/auth"
	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/eventstream"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// EventstreamPrefix prefixes an eventstreams entry's name in the spool's destination names and
// in Dispatcher / fatal names ("eventstream/NAME"); the Power BI dataset is spool.PowerBI.
const EventstreamPrefix = "eventstream/"

// DestinationName returns the spool's name of a configured destination (config's "powerbi" or
// an eventstreams entry's name).
func DestinationName(configured string) string {
	if configured == config.DestinationPowerBI {
		return spool.PowerBI
	}
	return EventstreamPrefix + configured
}

// Destinations returns the spool destination names of queue q's table ([powerbi] by default).
func (p *Pipeline) Destinations(q spool.QueueKey) []string {
	ds, t, err := p.cfg.FindTable(q.Dataset + "/" + q.Table)
	if err != nil || ds == nil {
		return []string{spool.PowerBI}
	}
	var out []string
	for _, n := range t.DestinationNames() {
		out = append(out, DestinationName(n))
	}
	return out
}

// registerDestinations tells the spool every table's destinations (before any Take).
func (p *Pipeline) registerDestinations() error {
	var errs []error
	for _, ds := range p.cfg.Datasets {
		for _, t := range ds.Tables {
			q := spool.QueueKey{Dataset: ds.Name, Table: t.Name}
			if err := p.Spool.SetDestinations(q, p.Destinations(q)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// powerBITables returns ds with only the tables delivered to Power BI.
func powerBITables(ds config.Dataset) config.Dataset {
	out := ds
	out.Tables = nil
	for _, t := range ds.Tables {
		if slices.Contains(t.DestinationNames(), config.DestinationPowerBI) {
			out.Tables = append(out.Tables, t)
		}
	}
	return out
}

// powerBIConfig returns cfg with only the datasets and tables delivered to Power BI (what the
// sink resolves and creates), and whether there are any.
func powerBIConfig(cfg *config.Config) (*config.Config, bool) {
	out := *cfg
	out.Datasets = nil
	for _, ds := range cfg.Datasets {
		if pds := powerBITables(ds); len(pds.Tables) > 0 {
			out.Datasets = append(out.Datasets, pds)
		}
	}
	return &out, len(out.Datasets) > 0
}

// eventstreamQueues returns the table queues delivered to the eventstreams entry name.
func (p *Pipeline) eventstreamQueues(name string) []spool.QueueKey {
	var qs []spool.QueueKey
	for _, ds := range p.cfg.Datasets {
		for _, t := range ds.Tables {
			if slices.Contains(t.DestinationNames(), name) {
				qs = append(qs, spool.QueueKey{Dataset: ds.Name, Table: t.Name})
			}
		}
	}
	return qs
}

// openEventstreams builds a sender per eventstreams entry that some table uses and checks that
// it can connect and authenticate: wrong credentials fail Open with an error naming the endpoint
// and the SASL failure; an endpoint that cannot be reached yet is logged, and its rows wait in
// the spool while the dispatcher retries.
func (p *Pipeline) openEventstreams(ctx context.Context, o Options) error {
	p.eventstreams = map[string]*eventstream.Destination{}
	for _, e := range p.cfg.Eventstreams {
		if len(p.eventstreamQueues(e.Name)) == 0 {
			continue
		}
		var tokens eventstream.TokenSource
		if e.ConnectionString == "" && e.Auth != nil {
			sub := *p.cfg
			sub.Auth = *e.Auth
			ts, err := auth.New(&sub, auth.Options{Logger: p.log.With("component", "auth", "eventstream", e.Name), Prompt: o.Prompt})
			if err != nil {
				return fmt.Errorf("eventstream %s: auth %s: %w", e.Name, e.Auth.Method, err)
			}
			tokens = ts
		}
		s, err := eventstream.New(eventstream.Options{Config: e, Tokens: tokens,
			Logger: p.log.With("component", "eventstream", "eventstream", e.Name)})
		if err != nil {
			return err
		}
		if err := s.Check(ctx); err != nil {
			if eventstream.Classify(err) == eventstream.Fatal || ctx.Err() != nil {
				_ = s.Close()
				return err
			}
			p.log.Warn("eventstream not reachable yet; its rows wait in the spool and are sent once it is",
				"eventstream", e.Name, "err", err)
		}
		p.eventstreams[e.Name] = eventstream.NewDestination(s)
	}
	return nil
}

// closeEventstreams closes the senders' connections.
func (p *Pipeline) closeEventstreams() error {
	var errs []error
	for _, d := range p.eventstreams {
		errs = append(errs, d.Sender().Close())
	}
	return errors.Join(errs...)
}

// queue returns the spool view of destination name, wrapped for metrics.
func (p *Pipeline) queue(name string) batcher.Queue {
	var q batcher.Queue = p.Spool.Destination(name)
	if p.wrapQueue != nil {
		q = p.wrapQueue(q)
	}
	return q
}

// eventstreamRun is what the eventstream dispatchers share with the Power BI ones.
type eventstreamRun struct {
	reserve     float64         // share of the limits a backlog leaves to live rows
	budget      *batcher.Budget // memory of the sends in flight, across every dispatcher
	onPermanent func(string, error)
}

// startEventstreams starts one dispatcher per eventstreams entry in use, fed by every table
// delivered to it. It sends until ctx is done and lets its sends in flight finish until abort
// is done. A fatal answer (credentials or permissions refused) stops only that destination: it
// is logged, reported to onPermanent, and its rows stay spooled until Revive (SIGHUP) or a
// restart; the Power BI side and other eventstreams keep flowing.
func (p *Pipeline) startEventstreams(ctx, abort context.Context, o eventstreamRun, wg *sync.WaitGroup) {
	for _, e := range p.cfg.Eventstreams {
		dest := p.eventstreams[e.Name]
		if dest == nil {
			continue
		}
		name := EventstreamPrefix + e.Name
		d := batcher.NewDispatcher(batcher.Options{
			Dataset:     config.Dataset{Name: name},
			Queues:      p.eventstreamQueues(e.Name),
			Linger:      time.Duration(p.cfg.Batch.Linger),
			Queue:       p.queue(name),
			Destination: dest,
			Logger:      p.log.With("component", "batcher", "eventstream", e.Name),
			Abort:       abort,
			LiveReserve: o.reserve,
			Budget:      o.budget,
		})
		p.mu.Lock()
		p.dispatchers[name] = d
		p.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.superviseEventstream(ctx, name, d, o.onPermanent)
		}()
	}
}

// superviseEventstream runs an eventstream's dispatcher until ctx is done: after a fatal error
// it waits for Revive; after a spool failure it runs it again after a pause.
func (p *Pipeline) superviseEventstream(ctx context.Context, name string, d *batcher.Dispatcher, onPermanent func(string, error)) {
	var fails int
	for ctx.Err() == nil {
		err := d.Run(ctx)
		switch {
		case ctx.Err() != nil || err == nil:
			return
		case eventstream.Classify(err) == eventstream.Fatal:
			p.log.Error("eventstream stopped: its rows stay in the spool until a reload (SIGHUP) or a restart",
				"eventstream", strings.TrimPrefix(name, EventstreamPrefix), "err", err)
			if onPermanent != nil {
				onPermanent(name, err)
			}
			select {
			case <-ctx.Done():
				return
			case <-p.revive[name]:
				p.log.Info("eventstream restarted", "eventstream", strings.TrimPrefix(name, EventstreamPrefix))
			}
		default:
			p.log.Error("eventstream dispatcher failed; restarting it", "eventstream", strings.TrimPrefix(name, EventstreamPrefix), "err", err)
			fails++
			if !sleepCtx(ctx, retryWait(fails)) {
				return
			}
		}
	}
}

// reviveEventstreams wakes every stopped eventstream dispatcher; it returns how many were stopped.
func (p *Pipeline) reviveEventstreams() int {
	n := 0
	for _, e := range p.cfg.Eventstreams {
		select {
		case p.revive[EventstreamPrefix+e.Name] <- struct{}{}:
			n++
		default:
		}
	}
	return n
}

// Eventstreams returns the eventstreams entries in use (spool names, eventstream/NAME) and the
// table queues delivered to each, in config order.
func (p *Pipeline) Eventstreams() map[string][]spool.QueueKey {
	out := map[string][]spool.QueueKey{}
	for _, e := range p.cfg.Eventstreams {
		if p.eventstreams[e.Name] != nil {
			out[EventstreamPrefix+e.Name] = p.eventstreamQueues(e.Name)
		}
	}
	return out
}

// PowerBIDatasets returns the datasets and tables delivered to Power BI (none when no table is):
// what read-back and verify may ask the service about.
func (p *Pipeline) PowerBIDatasets() []config.Dataset {
	if p.Sink == nil {
		return nil
	}
	cfg, _ := powerBIConfig(p.cfg)
	return cfg.Datasets
}

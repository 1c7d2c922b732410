package filesrc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// writeError marks a failed RecordWriter.Write: the spool is failing, so the source stops.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// flushFunc writes one batch of records durably.
type flushFunc func(ctx context.Context, recs []ingest.Record) error

// pump decodes records in a goroutine into a bounded channel and writes them in batches of up
// to max records: a batch is written as soon as no more records are ready, so a quiet input is
// not delayed and a busy one fills its batches while the previous Write runs.
type pump struct {
	dec    ingest.Decoder
	halted func() bool // records decoded once this is true are discarded
	max    int
	flush  flushFunc
	detach bool // do not wait for the decoder goroutine (an uninterruptible reader: stdin)
	// stopRead ends the decoder's reader (cancels its context); nil when it cannot be ended.
	stopRead context.CancelFunc
	decErr   error
	records  chan ingest.Record
	done     chan struct{}
}

func newPump(dec ingest.Decoder, max int, flush flushFunc) *pump {
	return &pump{dec: dec, max: max, flush: flush, halted: func() bool { return false }}
}

// run decodes and writes until the decoder ends. It returns the decoder's error (nil at io.EOF),
// a *writeError, or ctx's error. ctx must be the context of the decoder's reader, or stopRead
// must end that reader, so the decoder goroutine ends with run.
func (p *pump) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.records = make(chan ingest.Record, p.max)
	p.done = make(chan struct{})
	go p.decode(ctx)
	err := p.writeAll(ctx)
	cancel()
	if p.stopRead != nil {
		p.stopRead()
	}
	if p.detach && err != nil {
		return err
	}
	<-p.done
	if err != nil {
		return err
	}
	return p.decErr
}

func (p *pump) decode(ctx context.Context) {
	defer close(p.done)
	defer close(p.records)
	for {
		rec, err := p.dec.Next()
		if p.halted() {
			return
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			p.decErr = fmt.Errorf("decode: %w", err)
			return
		}
		select {
		case p.records <- rec:
		case <-ctx.Done():
			return
		}
	}
}

func (p *pump) writeAll(ctx context.Context) error {
	for {
		batch, open, err := p.collect(ctx)
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := p.flush(ctx, batch); err != nil {
				return err
			}
		}
		if !open {
			return nil
		}
	}
}

// collect waits for one record, then takes what else is ready, up to max.
func (p *pump) collect(ctx context.Context) ([]ingest.Record, bool, error) {
	var batch []ingest.Record
	select {
	case rec, ok := <-p.records:
		if !ok {
			return nil, false, nil
		}
		batch = append(batch, rec)
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
	for len(batch) < p.max {
		select {
		case rec, ok := <-p.records:
			if !ok {
				return batch, false, nil
			}
			batch = append(batch, rec)
		default:
			return batch, true, nil
		}
	}
	return batch, true, nil
}

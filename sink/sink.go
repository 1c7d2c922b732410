// Package sink talks to the Power BI push API: it resolves or creates datasets, updates table
// schemas and posts rows, and classifies every failure once.
//
// CONTRACT STUB: implemented by the sink work.
package sink

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// TokenSource is what the sink needs from auth.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	Invalidate()
}

// MetaStore remembers dataset ids across restarts (the spool implements it).
type MetaStore interface {
	Meta(key string) ([]byte, error)
	SetMeta(key string, val []byte) error
}

// Options configure New.
type Options struct {
	Config     *config.Config
	Tokens     TokenSource
	Store      MetaStore
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Client is a Power BI push API client.
type Client struct{}

// New returns a client for cfg.PowerBI (api_url or the cloud's base, workspace).
func New(o Options) (*Client, error) { panic("stub") }

// Prepare resolves (by id, else by name) or creates every configured dataset and PUTs tables whose
// columns differ additively. It returns a fatal error (auth rejected, dataset unusable) as is.
func (c *Client) Prepare(ctx context.Context) error { panic("stub") }

// PostRows posts rows (JSON objects) to dataset/table (config names). A 401 is refreshed and
// retried once inside. seq (the spool sequence of the first row) is sent as
// X-PowerBI-PushData-SequenceNumber when powerbi.sequence_numbers is on. The error, if any, is
// classified: see Classify.
func (c *Client) PostRows(ctx context.Context, dataset, table string, seq uint64, rows [][]byte) error {
	panic("stub")
}

// Class is the outcome class of a sink call.
type Class int

// Outcome classes, decided once at the sink boundary.
const (
	OK        Class = iota
	Throttled       // 429: wait RetryAfter, then resend
	Retryable       // 408/5xx/network: backoff, resend
	Rejected        // 400 on POST rows: bisect, dead-letter single rows
	Fatal           // 403, not a push dataset, auth refused: stop the dataset
)

// Classify returns err's class (OK for nil).
func Classify(err error) Class { panic("stub") }

// RetryAfter returns the delay the service asked for (429 Retry-After), or 0.
func RetryAfter(err error) time.Duration { panic("stub") }

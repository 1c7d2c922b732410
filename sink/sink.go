// Package sink talks to the Power BI push API: it resolves or creates datasets, updates table
// schemas and posts rows, and classifies every failure once.
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pbi-pusher/pbi-pusher/auth"
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
	Config *config.Config
	Tokens TokenSource
	// Store remembers resolved dataset ids; nil = nothing is remembered.
	Store MetaStore
	// HTTPClient is used for every call; nil = auth.HTTPClient(cfg) (proxy from the environment,
	// powerbi.ca_file, powerbi.request_timeout).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// CreateSettle is how long a dataset found or created by name settles before the name is
	// listed again to converge with instances that created one concurrently (see Client.settle);
	// a random jitter of up to the same length is added. 0 = DefaultCreateSettle; negative = none.
	CreateSettle time.Duration
}

// DefaultCreateSettle is the settle interval of a dataset resolved by name: longer than the
// spread of the create calls of instances started together, short enough to delay the first
// POST only once per start without a remembered id, by at most twice this.
const DefaultCreateSettle = time.Second

// Client is a Power BI push API client. It is safe for concurrent use.
type Client struct {
	base      string // REST base, including /groups/{id} when a workspace is set
	hc        *http.Client
	tokens    TokenSource
	store     MetaStore
	log       *slog.Logger
	seqNums   bool
	now       func() time.Time
	settleFor time.Duration       // base settle of a by-name resolve (jitter added); 0 = none
	order     []string            // dataset names in config order
	sets      map[string]*dataset // by config name
}

// New returns a client for cfg.PowerBI (api_url or the cloud's base, workspace).
func New(o Options) (*Client, error) {
	if o.Config == nil || o.Tokens == nil {
		return nil, errors.New("new sink: Config and Tokens are required")
	}
	base, err := restBase(o.Config.PowerBI)
	if err != nil {
		return nil, fmt.Errorf("new sink: %w", err)
	}
	hc := o.HTTPClient
	if hc == nil {
		if hc, err = auth.HTTPClient(o.Config); err != nil {
			return nil, fmt.Errorf("new sink: %w", err)
		}
	}
	c := &Client{
		base: base, hc: hc, tokens: o.Tokens, store: o.Store, log: o.Logger,
		seqNums: o.Config.PowerBI.SequenceNumbers, now: time.Now,
		sets: make(map[string]*dataset), settleFor: o.CreateSettle,
	}
	switch {
	case c.settleFor == 0:
		c.settleFor = DefaultCreateSettle
	case c.settleFor < 0:
		c.settleFor = 0
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if err := c.addDatasets(o.Config.Datasets); err != nil {
		return nil, fmt.Errorf("new sink: %w", err)
	}
	return c, nil
}

// addDatasets compiles the configured datasets' tables.
func (c *Client) addDatasets(sets []config.Dataset) error {
	for _, ds := range sets {
		if _, dup := c.sets[ds.Name]; dup {
			return fmt.Errorf("dataset %q configured twice", ds.Name)
		}
		d, err := newDataset(ds)
		if err != nil {
			return err
		}
		c.sets[ds.Name] = d
		c.order = append(c.order, ds.Name)
	}
	return nil
}

// restBase returns the REST base for p: api_url or the cloud's, plus /groups/{workspace}.
func restBase(p config.PowerBI) (string, error) {
	base := p.APIURL
	if base == "" {
		cloud := p.Cloud
		if cloud == "" {
			cloud = "public"
		}
		cl, ok := config.Clouds[cloud]
		if !ok {
			return "", fmt.Errorf("unknown powerbi.cloud %q", p.Cloud)
		}
		base = cl.APIBase
	}
	base = strings.TrimRight(base, "/")
	if p.Workspace != "" {
		base += "/groups/" + pathEscape(p.Workspace)
	}
	return base, nil
}

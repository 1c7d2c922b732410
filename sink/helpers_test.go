package sink

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// countingTokens hands out tokens[0] until the first Invalidate, then tokens[1], ... and counts calls.
type countingTokens struct {
	tokens      []string
	calls       atomic.Int32
	invalidates atomic.Int32
}

func (s *countingTokens) Token(context.Context) (string, error) {
	s.calls.Add(1)
	i := min(int(s.invalidates.Load()), len(s.tokens)-1)
	return s.tokens[i], nil
}

func (s *countingTokens) Invalidate() { s.invalidates.Add(1) }

// memStore is an in-memory MetaStore.
type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemStore() *memStore { return &memStore{m: map[string][]byte{}} }

func (s *memStore) Meta(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key], nil
}

func (s *memStore) SetMeta(key string, val []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = append([]byte(nil), val...)
	return nil
}

// cols builds config columns from name, type pairs.
func cols(nameType ...string) []config.Column {
	var out []config.Column
	for i := 0; i+1 < len(nameType); i += 2 {
		out = append(out, config.Column{Name: nameType[i], Type: nameType[i+1]})
	}
	return out
}

// oneTable is a config with dataset ds holding table tbl with columns.
func oneTable(apiURL, ds, tbl string, columns []config.Column) *config.Config {
	return &config.Config{
		PowerBI:  config.PowerBI{APIURL: apiURL},
		Datasets: []config.Dataset{{Name: ds, Tables: []config.Table{{Name: tbl, Columns: columns}}}},
	}
}

// newClient builds a Client or fails the test.
func newClient(t *testing.T, cfg *config.Config, tokens TokenSource, store MetaStore, hc *http.Client) *Client {
	t.Helper()
	if tokens == nil {
		tokens = &countingTokens{tokens: []string{"tok"}}
	}
	o := Options{Config: cfg, Tokens: tokens, HTTPClient: hc, CreateSettle: 5 * time.Millisecond}
	if store != nil {
		o.Store = store
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

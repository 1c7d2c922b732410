package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pbi-pusher/pbi-pusher/admin"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// apiBackend asks the running agent's admin API (admin package, api.go).
type apiBackend struct {
	base  string // http://host:port
	token string
	hc    *http.Client
}

// newAPIBackend talks to the agent at addr; the bearer token comes from cfg's admin.token_file.
func newAPIBackend(addr string, cfg *config.Config) (*apiBackend, error) {
	b := &apiBackend{base: "http://" + addr, hc: &http.Client{Timeout: 30 * time.Second}}
	if strings.Contains(addr, "://") {
		b.base = strings.TrimRight(addr, "/")
	}
	if cfg != nil {
		tok, err := adminToken(cfg.Admin)
		if err != nil {
			return nil, err
		}
		b.token = tok
	}
	return b, nil
}

func (b *apiBackend) view() (admin.SpoolView, error) {
	var v admin.SpoolView
	err := b.do(http.MethodGet, admin.APISpool, nil, &v)
	return v, err
}

// deadLetters pages through the API until f.Limit rows (0 = all) or the last page.
func (b *apiBackend) deadLetters(f spool.DeadFilter) ([]admin.DeadLetterView, error) {
	out := []admin.DeadLetterView{}
	want := f.Limit
	for {
		f.Limit = admin.MaxPageSize
		if want > 0 {
			f.Limit = min(admin.MaxPageSize, want-len(out))
		}
		var page admin.DeadLetterPage
		if err := b.do(http.MethodGet, admin.APIDeadLetters+"?"+admin.DeadFilterValues(f).Encode(), nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.DeadLetters...)
		if page.Next == 0 || (want > 0 && len(out) >= want) {
			return out, nil
		}
		f.After = page.Next
	}
}

func (b *apiBackend) replay(f spool.DeadFilter, all bool) (int, error) {
	var r admin.MutationResult
	if err := b.do(http.MethodPost, admin.APIReplay, mutationForm(f, all), &r); err != nil {
		return 0, err
	}
	if r.Replayed == nil {
		return 0, errors.New("the agent's answer has no replayed count")
	}
	return *r.Replayed, nil
}

func (b *apiBackend) purge(f spool.DeadFilter, all bool) (int, error) {
	var r admin.MutationResult
	if err := b.do(http.MethodPost, admin.APIPurge, mutationForm(f, all), &r); err != nil {
		return 0, err
	}
	if r.Purged == nil {
		return 0, errors.New("the agent's answer has no purged count")
	}
	return *r.Purged, nil
}

func mutationForm(f spool.DeadFilter, all bool) url.Values {
	v := admin.DeadFilterValues(f)
	if all {
		v.Set("all", "true")
	}
	return v
}

// do sends one request and decodes a 200 answer into out, or returns the API's error.
func (b *apiBackend) do(method, path string, form url.Values, out any) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		return err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.token != "" {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return fmt.Errorf("the spool is in use by the running agent, and its admin API at %s did not answer: %w", b.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		return fmt.Errorf("running agent (%s): %s: %s", b.base, resp.Status, e.Error)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("admin API %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

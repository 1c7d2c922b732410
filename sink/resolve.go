package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// remoteDataset is a dataset as the service lists it.
type remoteDataset struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	AddRowsAPIEnabled *bool  `json:"addRowsAPIEnabled"`
}

// ensure returns d's id, resolving it first when unknown (creating it when create is set).
func (c *Client) ensure(ctx context.Context, d *dataset, create bool) (string, error) {
	if id := d.getID(); id != "" {
		return id, nil
	}
	d.resolveMu.Lock()
	defer d.resolveMu.Unlock()
	if id := d.getID(); id != "" {
		return id, nil
	}
	id, _, err := c.resolve(ctx, d, create)
	return id, err
}

// resolve finds d (pinned id, remembered id, then by name), creates it when absent and create
// is set, remembers and records the id. "" means absent and not created. Caller holds resolveMu.
func (c *Client) resolve(ctx context.Context, d *dataset, create bool) (id string, created bool, err error) {
	id, err = c.lookup(ctx, d)
	if err != nil || (id == "" && !create) {
		return "", false, err
	}
	if id == "" {
		if id, err = c.createDataset(ctx, d); err != nil {
			return "", false, err
		}
		created = true
		c.log.Info("created dataset", "dataset", d.cfg.Name, "id", id, "mode", d.mode(), "retention", d.retention())
	}
	c.remember(d, id)
	d.setID(id)
	return id, created, nil
}

// lookup finds d's id without creating anything; "" when it does not exist.
func (c *Client) lookup(ctx context.Context, d *dataset) (string, error) {
	if d.cfg.ID != "" {
		return c.lookupPinned(ctx, d)
	}
	if id := c.remembered(d); id != "" {
		rd, err := c.getDataset(ctx, id)
		if err != nil {
			return "", err
		}
		if rd != nil {
			return id, checkPush(d, rd)
		}
		c.log.Warn("remembered dataset id no longer exists, looking up by name", "dataset", d.cfg.Name, "id", id)
	}
	return c.findByName(ctx, d)
}

// lookupPinned checks the configured datasets[].id.
func (c *Client) lookupPinned(ctx context.Context, d *dataset) (string, error) {
	rd, err := c.getDataset(ctx, d.cfg.ID)
	if err != nil {
		return "", err
	}
	if rd == nil {
		return "", &Error{Op: fmt.Sprintf("resolve dataset %q", d.cfg.Name), Class: Fatal,
			Message: fmt.Sprintf("dataset id %s (datasets[].id) not found in the workspace", d.cfg.ID),
			Hint:    "check powerbi.workspace and datasets[].id, or remove the id to resolve by name"}
	}
	return d.cfg.ID, checkPush(d, rd)
}

// getDataset fetches one dataset by id; nil when it does not exist (404).
func (c *Client) getDataset(ctx context.Context, id string) (*remoteDataset, error) {
	var rd remoteDataset
	err := c.do(ctx, call{op: "get dataset " + id, method: http.MethodGet, path: "/datasets/" + pathEscape(id)}, &rd)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &rd, nil
}

// findByName lists the workspace's datasets; names are not unique, so more than one match is an error.
func (c *Client) findByName(ctx context.Context, d *dataset) (string, error) {
	var list struct {
		Value []remoteDataset `json:"value"`
	}
	op := fmt.Sprintf("list datasets to find %q", d.cfg.Name)
	if err := c.do(ctx, call{op: op, method: http.MethodGet, path: "/datasets"}, &list); err != nil {
		return "", err
	}
	var hits []remoteDataset
	for _, rd := range list.Value {
		if rd.Name == d.cfg.Name {
			hits = append(hits, rd)
		}
	}
	switch len(hits) {
	case 0:
		return "", nil
	case 1:
		return hits[0].ID, checkPush(d, &hits[0])
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return "", &Error{Op: fmt.Sprintf("resolve dataset %q", d.cfg.Name), Class: Fatal,
		Message: fmt.Sprintf("%d datasets share this name: %s", len(hits), strings.Join(ids, ", ")),
		Hint:    "pin the right one with datasets[].id (dataset names are not unique in Power BI)"}
}

// checkPush refuses a dataset the service says cannot take rows.
func checkPush(d *dataset, rd *remoteDataset) error {
	if rd.AddRowsAPIEnabled == nil || *rd.AddRowsAPIEnabled {
		return nil
	}
	return &Error{Op: fmt.Sprintf("resolve dataset %q", d.cfg.Name), Class: Fatal,
		Message: fmt.Sprintf("dataset %s has addRowsAPIEnabled=false", rd.ID), Hint: hintNotPush}
}

// createDataset creates d with all its tables and returns the new id.
func (c *Client) createDataset(ctx context.Context, d *dataset) (string, error) {
	body, err := json.Marshal(map[string]any{"name": d.cfg.Name, "defaultMode": d.mode(), "tables": d.tables})
	if err != nil {
		return "", fmt.Errorf("encode dataset %q: %w", d.cfg.Name, err)
	}
	var rd remoteDataset
	cl := call{op: fmt.Sprintf("create dataset %q", d.cfg.Name), method: http.MethodPost,
		path: "/datasets?defaultRetentionPolicy=" + url.QueryEscape(d.retention()), body: body}
	if err := c.do(ctx, cl, &rd); err != nil {
		return "", err
	}
	if rd.ID != "" {
		return rd.ID, nil
	}
	// 202 Accepted may come without a body: find what was created.
	id, err := c.findByName(ctx, d)
	if err == nil && id == "" {
		err = &Error{Op: cl.op, Class: Retryable, Message: "the service returned no dataset id"}
	}
	return id, err
}

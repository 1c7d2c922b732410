package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
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
// A dataset found or created by name settles first (settle), so that instances starting
// together agree on one; created is false when this client's new dataset lost to another.
func (c *Client) resolve(ctx context.Context, d *dataset, create bool) (id string, created bool, err error) {
	id, err = c.lookup(ctx, d)
	if err != nil || (id == "" && !create) {
		return "", false, err
	}
	byName := d.cfg.ID == "" && (id == "" || id != c.remembered(d)) // not pinned, not remembered
	if id == "" {
		if id, err = c.createDataset(ctx, d); err != nil {
			return "", false, err
		}
		created = true
		c.log.Info("created dataset", "dataset", d.cfg.Name, "id", id, "mode", d.mode(), "retention", d.retention())
	}
	if byName {
		chosen := id
		if chosen, err = c.settle(ctx, d, id, created); err != nil {
			return "", false, err
		}
		created = created && chosen == id
		id = chosen
	}
	c.remember(d, id)
	d.setID(id)
	return id, created, nil
}

// settle makes instances that start together with the same config converge on one dataset:
// Power BI allows duplicate names, and each may have listed none and created its own, or found
// one while another instance was still creating its own. It waits the settle interval plus
// jitter, lists the name again and picks what every instance picks (pickDataset). cur is the id
// found or created; own says this client created it: nothing has been posted to it yet, so
// when it lost it is deleted (left with a WARN when the delete fails). Caller holds resolveMu.
func (c *Client) settle(ctx context.Context, d *dataset, cur string, own bool) (string, error) {
	if c.settleFor > 0 {
		t := time.NewTimer(c.settleFor + rand.N(c.settleFor))
		select {
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("settle dataset %q: %w", d.cfg.Name, ctx.Err())
		case <-t.C:
		}
	}
	hits, err := c.listByName(ctx, d)
	if err != nil {
		return "", err
	}
	if !slices.ContainsFunc(hits, func(rd remoteDataset) bool { return rd.ID == cur }) {
		if !own && len(hits) > 0 {
			return c.settled(d, cur, pickDataset(hits), hits) // found one was deleted meanwhile
		}
		hits = append(hits, remoteDataset{ID: cur, Name: d.cfg.Name}) // the listing may lag the create
	}
	win := pickDataset(hits)
	if win.ID != cur && own {
		if err := c.deleteDataset(ctx, cur); err != nil {
			c.log.Warn("could not delete the duplicate dataset this instance created (it holds no rows); delete it by hand",
				"dataset", d.cfg.Name, "id", cur, "kept", win.ID, "err", err)
		}
	}
	return c.settled(d, cur, win, hits)
}

// settled logs a settle that changed the choice and returns the chosen id.
func (c *Client) settled(d *dataset, cur string, win remoteDataset, hits []remoteDataset) (string, error) {
	if win.ID != cur {
		c.log.Info("dataset created concurrently by several instances; using the one they all choose",
			"dataset", d.cfg.Name, "id", win.ID, "instead_of", cur, "ids", idList(hits))
	}
	return win.ID, checkPush(d, &win)
}

// pickDataset is the rule every instance applies to datasets sharing a name: the smallest id
// (ids are lowercase uuids). It depends only on the set of ids, never on the order the service
// lists them in, which Power BI does not document (the emulator lists in creation order), so
// instances that see the same set agree. hits is not empty.
func pickDataset(hits []remoteDataset) remoteDataset {
	return slices.MinFunc(hits, func(a, b remoteDataset) int {
		return strings.Compare(strings.ToLower(a.ID), strings.ToLower(b.ID))
	})
}

func idList(hits []remoteDataset) string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	slices.Sort(ids)
	return strings.Join(ids, ", ")
}

// deleteDataset deletes a dataset by id; one already gone counts as deleted.
func (c *Client) deleteDataset(ctx context.Context, id string) error {
	err := c.do(ctx, call{op: "delete dataset " + id, method: http.MethodDelete, path: "/datasets/" + pathEscape(id)}, nil)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		return nil
	}
	return err
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

// findByName resolves d by name. Names are not unique: when several datasets share it, the one
// pickDataset chooses is used (the same every instance chooses) and a WARN names the ids, once.
// Caller holds resolveMu.
func (c *Client) findByName(ctx context.Context, d *dataset) (string, error) {
	hits, err := c.listByName(ctx, d)
	if err != nil || len(hits) == 0 {
		return "", err
	}
	win := pickDataset(hits)
	if len(hits) > 1 {
		if ids := idList(hits); ids != d.dupWarned {
			d.dupWarned = ids
			c.log.Warn("several datasets share this name; using the one with the smallest id (pin datasets[].id to choose)",
				"dataset", d.cfg.Name, "id", win.ID, "ids", ids)
		}
	}
	return win.ID, checkPush(d, &win)
}

// listByName lists the workspace's datasets named like d.
func (c *Client) listByName(ctx context.Context, d *dataset) ([]remoteDataset, error) {
	var list struct {
		Value []remoteDataset `json:"value"`
	}
	op := fmt.Sprintf("list datasets to find %q", d.cfg.Name)
	if err := c.do(ctx, call{op: op, method: http.MethodGet, path: "/datasets"}, &list); err != nil {
		return nil, err
	}
	var hits []remoteDataset
	for _, rd := range list.Value {
		if rd.Name == d.cfg.Name {
			hits = append(hits, rd)
		}
	}
	return hits, nil
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

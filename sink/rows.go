package sink

import (
	"context"
	"fmt"
	"net/http"
)

// PostRows posts rows (JSON objects) to dataset/table (config names). A 401 is refreshed and
// retried once inside; a 404 re-resolves the dataset (recreating it only with recreate_missing)
// and retries once. seq (the spool sequence of the first row) is sent as
// X-PowerBI-PushData-SequenceNumber when powerbi.sequence_numbers is on. The error, if any, is
// classified: see Classify. PostRows makes one attempt otherwise: backoff is the caller's.
func (c *Client) PostRows(ctx context.Context, dataset, table string, seq uint64, rows [][]byte) error {
	op := fmt.Sprintf("post rows to %q/%q", dataset, table)
	d := c.sets[dataset]
	if d == nil || !d.hasTable(table) {
		return &Error{Op: op, Class: Fatal, Message: "table not configured"}
	}
	id, err := c.ensure(ctx, d, true)
	if err != nil {
		return err
	}
	body := rowsBody(rows)
	r, err := c.send(ctx, c.rowsCall(op, id, table, seq, body))
	if err == nil && r.status == http.StatusNotFound && !isNotPush(msgOf(r)) {
		newID, rerr := c.reresolve(ctx, d, id)
		if rerr != nil {
			return rerr
		}
		if newID != id {
			r, err = c.send(ctx, c.rowsCall(op, newID, table, seq, body))
		}
	}
	return classify(op, true, &r, err, c.now())
}

// rowsCall is the POST rows request for table in dataset id.
func (c *Client) rowsCall(op, id, table string, seq uint64, body []byte) call {
	cl := call{op: op, method: http.MethodPost, body: body, rowsCall: true,
		path: "/datasets/" + pathEscape(id) + "/tables/" + pathEscape(table) + "/rows"}
	if c.seqNums {
		cl.seq = seqHeader(seq)
	}
	return cl
}

// rowsBody is {"rows":[...]} around the raw row objects, without re-encoding them.
func rowsBody(rows [][]byte) []byte {
	n := len(`{"rows":[]}`) + len(rows)
	for _, r := range rows {
		n += len(r)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"rows":[`...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	return append(b, "]}"...)
}

// reresolve handles a 404 on dataset stale: the id of the dataset as it now is, stale itself
// when the dataset still exists (the table is missing: the caller classifies the 404).
func (c *Client) reresolve(ctx context.Context, d *dataset, stale string) (string, error) {
	d.resolveMu.Lock()
	defer d.resolveMu.Unlock()
	if cur := d.getID(); cur != "" && cur != stale {
		return cur, nil // another POST already re-resolved it
	}
	rd, err := c.getDataset(ctx, stale)
	if err != nil || rd != nil {
		return stale, err
	}
	c.log.Warn("dataset no longer exists", "dataset", d.cfg.Name, "id", stale,
		"recreate_missing", d.cfg.RecreateMissing)
	id, _, err := c.resolve(ctx, d, d.cfg.RecreateMissing)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", &Error{Op: fmt.Sprintf("re-resolve dataset %q", d.cfg.Name), Class: Fatal,
			Status: http.StatusNotFound, Message: fmt.Sprintf("dataset %s was deleted", stale),
			Hint: "set recreate_missing: true to recreate it automatically, or restart to create it"}
	}
	return id, nil
}

func (d *dataset) hasTable(name string) bool {
	_, ok := d.byName[name]
	return ok
}

func msgOf(r reply) string {
	_, msg := serviceMessage(r.body)
	return msg
}

package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Read-back: the service's own row counts through executeQueries (one DAX query per request;
// ../shared/pbi-api.md §8). It needs the tenant setting "Dataset Execute Queries REST API"; a
// principal without it is answered 401/403 (or 400), classified Fatal here: the caller falls
// back to its own estimate. The service allows 120 query requests per minute per user.

// CountRows returns how many rows table holds at the service:
// EVALUATE ROW("n", COUNTROWS('table')).
func (c *Client) CountRows(ctx context.Context, dataset, table string) (int64, error) {
	q := fmt.Sprintf(`EVALUATE ROW("n", COUNTROWS(%s))`, daxTable(table))
	v, err := c.query(ctx, fmt.Sprintf("count rows of %q/%q", dataset, table), dataset, table, q, "n")
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// CountKey returns the rows of table and the distinct values of its column key at the service
// (COUNTROWS and DISTINCTCOUNT in one query): their difference is the duplicate rows by key.
func (c *Client) CountKey(ctx context.Context, dataset, table, key string) (rows, distinct int64, err error) {
	t := daxTable(table)
	q := fmt.Sprintf(`EVALUATE ROW("n", COUNTROWS(%s), "d", DISTINCTCOUNT(%s[%s]))`,
		t, t, strings.ReplaceAll(key, "]", "]]"))
	v, err := c.query(ctx, fmt.Sprintf("count distinct %q of %q/%q", key, dataset, table), dataset, table, q, "n", "d")
	if err != nil {
		return 0, 0, err
	}
	return v[0], v[1], nil
}

// daxTable quotes a table name for DAX: 'name' with ' doubled.
func daxTable(name string) string { return "'" + strings.ReplaceAll(name, "'", "''") + "'" }

// query runs one single-row DAX query on dataset and returns the named integer columns (a blank
// — an empty table — is 0).
func (c *Client) query(ctx context.Context, op, dataset, table, dax string, cols ...string) ([]int64, error) {
	d := c.sets[dataset]
	if d == nil || !d.hasTable(table) {
		return nil, &Error{Op: op, Class: Fatal, Message: "table not configured"}
	}
	id, err := c.ensure(ctx, d, false)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return make([]int64, len(cols)), nil // no such dataset yet: no rows
	}
	body, err := json.Marshal(map[string]any{
		"queries":            []map[string]string{{"query": dax}},
		"serializerSettings": map[string]bool{"includeNulls": true},
	})
	if err != nil {
		return nil, &Error{Op: op, Class: Fatal, Err: err}
	}
	var out struct {
		Results []struct {
			Tables []struct {
				Rows []map[string]json.RawMessage `json:"rows"`
			} `json:"tables"`
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"results"`
	}
	cl := call{op: op, method: http.MethodPost, path: "/datasets/" + pathEscape(id) + "/executeQueries", body: body}
	if err := c.do(ctx, cl, &out); err != nil {
		return nil, err
	}
	if len(out.Results) == 1 && out.Results[0].Error != nil {
		e := out.Results[0].Error
		return nil, &Error{Op: op, Class: Fatal, Code: e.Code, Message: e.Message}
	}
	if len(out.Results) != 1 || len(out.Results[0].Tables) != 1 || len(out.Results[0].Tables[0].Rows) != 1 {
		return nil, &Error{Op: op, Class: Fatal, Message: "answer is not one row"}
	}
	row := out.Results[0].Tables[0].Rows[0]
	vals := make([]int64, len(cols))
	for i, col := range cols {
		raw, ok := row["["+col+"]"]
		if !ok {
			return nil, &Error{Op: op, Class: Fatal, Message: fmt.Sprintf("answer has no column [%s]", col)}
		}
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue // BLANK: no rows
		}
		var f json.Number
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, &Error{Op: op, Class: Fatal, Message: fmt.Sprintf("column [%s] is not a number: %s", col, raw)}
		}
		n, err := f.Int64()
		if err != nil || n < 0 {
			return nil, &Error{Op: op, Class: Fatal, Message: fmt.Sprintf("column [%s] is not a row count: %s", col, raw)}
		}
		vals[i] = n
	}
	return vals, nil
}

package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Body caps: what is kept of a response, and how much more is read to reuse the connection.
const (
	maxErrorBody   = 64 << 10
	maxSuccessBody = 32 << 20
	maxDrain       = 8 << 20
)

// call is one API request, relative to the client's base.
type call struct {
	op       string // error context
	method   string
	path     string // escaped, starting with "/"
	body     []byte // nil = no body
	seq      string // X-PowerBI-PushData-SequenceNumber, "" = not sent
	rowsCall bool   // 400/413 mean rejected rows
}

// pathEscape escapes one path segment (dataset ids, table names).
func pathEscape(s string) string { return url.PathEscape(s) }

// do sends cl, classifies the outcome and decodes a 2xx JSON body into out (when non-nil).
func (c *Client) do(ctx context.Context, cl call, out any) error {
	r, err := c.send(ctx, cl)
	if cerr := classify(cl.op, cl.rowsCall, &r, err, c.now()); cerr != nil {
		return cerr
	}
	if out == nil {
		return nil
	}
	if r.readErr != nil {
		return &Error{Op: cl.op, Class: Retryable, Err: fmt.Errorf("read response: %w", r.readErr)}
	}
	if err := json.Unmarshal(r.body, out); err != nil {
		return &Error{Op: cl.op, Class: Fatal, Status: r.status, Err: fmt.Errorf("decode response: %w", err)}
	}
	return nil
}

// send makes the request; a refused token (401, or 403 TokenExpired) is invalidated and the
// request retried once with a fresh one. The error is a transport or token error; HTTP statuses
// come back in the reply.
func (c *Client) send(ctx context.Context, cl call) (reply, error) {
	r, err := c.attempt(ctx, cl)
	if err != nil {
		return r, err
	}
	if code, _ := serviceMessage(r.body); !tokenRefused(r.status, code) {
		return r, nil
	}
	c.log.Info("token refused, refreshing once", "op", cl.op, "status", r.status)
	c.tokens.Invalidate()
	return c.attempt(ctx, cl)
}

// attempt is one HTTP exchange with the current token.
func (c *Client) attempt(ctx context.Context, cl call) (reply, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return reply{}, fmt.Errorf("get token: %w", err)
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, c.base+cl.path, body)
	if err != nil {
		return reply{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if cl.seq != "" {
		req.Header.Set("X-PowerBI-PushData-SequenceNumber", cl.seq)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	return readReply(resp), nil
}

// readReply keeps up to a cap of the body, drains the rest (bounded) and always closes it.
func readReply(resp *http.Response) reply {
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	limit := int64(maxErrorBody)
	if r.status >= 200 && r.status < 300 {
		limit = maxSuccessBody
	}
	r.body, r.readErr = io.ReadAll(io.LimitReader(resp.Body, limit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	return r
}

// seqHeader formats a sequence number header value.
func seqHeader(seq uint64) string { return strconv.FormatUint(seq, 10) }

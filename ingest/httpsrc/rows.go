package httpsrc

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// MaxRowsPerRequest is Power BI's limit of rows in one POST rows request; more is a 400.
const MaxRowsPerRequest = 10000

// rowOverhead is what one kept row costs besides its encoded bytes (Record, slice headers).
const rowOverhead = 160

// rejection is a refused request: its status, Power BI error body and metrics reason.
type rejection struct {
	status int
	reason string
	rows   int // rows the refusal covers (0 when the body was not read far enough to know)
	body   errorBody
}

func reject(status int, reason, code, format string, args ...any) *rejection {
	return &rejection{status: status, reason: reason, body: errorBody{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// rowReader decodes a POST rows body as a stream: each row is checked (UTF-8, JSON object,
// the table's schema) and kept only as its encoded row, so memory follows the encoded rows, not
// the decoded maps. Memory for kept rows is taken from the server's budget as it grows.
type rowReader struct {
	s      *Server
	t      Target
	dec    *json.Decoder
	budget *budgetHold
	recs   []ingest.Record
	bad    int
	n      int
	det    []detail
}

// readRows reads and checks the body. It returns the records (each holding its encoded row) or
// the refusal.
func (s *Server) readRows(ctx context.Context, w http.ResponseWriter, r *http.Request, t Target, hold *budgetHold) ([]ingest.Record, *rejection) {
	body, rej := s.bodyReader(w, r)
	if rej != nil {
		return nil, rej
	}
	rr := &rowReader{s: s, t: t, dec: json.NewDecoder(body), budget: hold}
	rr.dec.UseNumber()
	if rej := rr.read(ctx); rej != nil {
		return nil, rej
	}
	if rr.bad > 0 {
		rej := reject(http.StatusBadRequest, ReasonSchema, "BadRequest",
			"%d of %d rows do not match table %s/%s; no row was stored", rr.bad, rr.n, t.Dataset, t.Table)
		rej.body.Details, rej.rows = rr.det, rr.n
		return nil, rej
	}
	return rr.recs, nil
}

// bodyReader returns the body, limited to MaxBodyBytes before and after gzip decompression.
func (s *Server) bodyReader(w http.ResponseWriter, r *http.Request) (io.Reader, *rejection) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, s.readFailure(err, "the body is not valid gzip")
		}
		return &limitReader{r: zr, left: s.opts.MaxBodyBytes}, nil
	default:
		return nil, reject(http.StatusUnsupportedMediaType, ReasonMediaType, "UnsupportedMediaType",
			"Content-Encoding %q is not supported (use gzip or none)", clip(enc))
	}
}

// limitReader fails with *http.MaxBytesError past left bytes (a decompressed body).
type limitReader struct {
	r    io.Reader
	left int64
	n    int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, &http.MaxBytesError{Limit: l.n}
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	k, err := l.r.Read(p)
	l.left -= int64(k)
	l.n += int64(k)
	return k, err
}

// read walks {"rows":[...]} token by token; other top-level keys are skipped.
func (rr *rowReader) read(ctx context.Context) *rejection {
	if tok, err := rr.dec.Token(); err != nil || tok != json.Delim('{') {
		return rr.shape(err)
	}
	seen := false
	for rr.dec.More() {
		tok, err := rr.dec.Token()
		if err != nil {
			return rr.shape(err)
		}
		if key, _ := tok.(string); key != "rows" {
			var skip json.RawMessage
			if err := rr.dec.Decode(&skip); err != nil {
				return rr.shape(err)
			}
			continue
		}
		seen = true
		if rej := rr.rows(ctx); rej != nil {
			return rej
		}
	}
	if _, err := rr.dec.Token(); err != nil {
		return rr.shape(err)
	}
	if !seen {
		return rr.shape(nil)
	}
	if _, err := rr.dec.Token(); !errors.Is(err, io.EOF) {
		return rr.shape(errors.New("data after the rows object"))
	}
	return nil
}

func (rr *rowReader) rows(ctx context.Context) *rejection {
	if tok, err := rr.dec.Token(); err != nil || tok != json.Delim('[') {
		return rr.shape(err)
	}
	now := rr.s.opts.Now()
	for rr.dec.More() {
		if rr.n == MaxRowsPerRequest {
			rej := reject(http.StatusBadRequest, ReasonTooManyRows, "BadRequest",
				"the request has more than %d rows; at most %d rows are allowed per POST rows request", MaxRowsPerRequest, MaxRowsPerRequest)
			rej.rows = MaxRowsPerRequest + 1
			return rej
		}
		var raw json.RawMessage
		if err := rr.dec.Decode(&raw); err != nil {
			return rr.shape(err)
		}
		base := rr.dec.InputOffset() - int64(len(raw))
		if rej := rr.row(ctx, raw, base, now); rej != nil {
			return rej
		}
		rr.n++
	}
	if _, err := rr.dec.Token(); err != nil {
		return rr.shape(err)
	}
	return nil
}

// row checks one row and keeps its encoded form while the request is still good.
func (rr *rowReader) row(ctx context.Context, raw []byte, base int64, now time.Time) *rejection {
	row, err := checkRow(rr.t, raw, base, now)
	if err != nil {
		if rr.bad++; len(rr.det) < maxDetails {
			rr.det = append(rr.det, detail{Message: fmt.Sprintf("row %d: %v", rr.n, err), Target: fmt.Sprintf("rows[%d]", rr.n)})
		}
		rr.recs = nil // the request fails: keep nothing
		return nil
	}
	if rr.bad > 0 {
		return nil
	}
	if err := rr.budget.take(ctx, int64(len(row))+rowOverhead); err != nil {
		return reject(http.StatusServiceUnavailable, ReasonBusy, "ServiceUnavailable",
			"too many rows are being received at once; retry later")
	}
	rr.recs = append(rr.recs, ingest.Record{Offset: int64(rr.n), Row: row})
	return nil
}

// checkRow decodes one row (which must be valid UTF-8 JSON text and an object), numbers as
// json.Number as the file and Kafka decoders do, and coerces it with the table's schema.
func checkRow(t Target, raw []byte, base int64, now time.Time) ([]byte, error) {
	if err := ingest.CheckJSONText(raw, base); err != nil {
		return nil, err
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("a row must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		return nil, errors.New("a row must be a JSON object")
	}
	return t.Schema.Coerce(fields, now)
}

// shape answers a body that is not {"rows":[...]} without naming Go types.
func (rr *rowReader) shape(err error) *rejection {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return reject(http.StatusRequestEntityTooLarge, ReasonTooLarge, "RequestEntityTooLarge", "the body exceeds %d bytes", rr.s.opts.MaxBodyBytes)
	}
	if rej := rr.s.readFailure(err, ""); rej != nil {
		return rej
	}
	msg := `the body must be {"rows":[{...}, ...]}`
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		msg += fmt.Sprintf(": invalid JSON at offset %d: %s", se.Offset, se.Error())
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		msg += ": the body ends early"
	case err != nil && err.Error() == "data after the rows object":
		msg += ": " + err.Error()
	}
	return reject(http.StatusBadRequest, ReasonMalformed, "BadRequest", "%s", msg)
}

// readFailure classifies a failed body read: a timeout (408), a gone client, or a too-large
// body; nil when err is none of them. what replaces the message of other errors when set.
func (s *Server) readFailure(err error, what string) *rejection {
	var tooBig *http.MaxBytesError
	var ne interface{ Timeout() bool }
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return reject(http.StatusRequestEntityTooLarge, ReasonTooLarge, "RequestEntityTooLarge", "the body exceeds %d bytes", s.opts.MaxBodyBytes)
	case errors.As(err, &ne) && ne.Timeout():
		return reject(http.StatusRequestTimeout, ReasonTimeout, "RequestTimeout",
			"the body was not received within %s (read_timeout)", s.opts.ReadTimeout)
	case what != "":
		return reject(http.StatusBadRequest, ReasonMalformed, "BadRequest", "%s", what)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

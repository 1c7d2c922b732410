package httpsrc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// rowsBody is the Post rows request body.
type rowsBody struct {
	Rows []json.RawMessage `json:"rows"`
}

// readRows reads and checks the body. On failure it returns the status and the error body.
func (s *Server) readRows(w http.ResponseWriter, r *http.Request, t Target) ([]ingest.Record, int, *errorBody) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, http.StatusRequestEntityTooLarge, &errorBody{Code: "RequestEntityTooLarge",
			Message: fmt.Sprintf("the body exceeds %d bytes", tooBig.Limit)}
	}
	if err != nil {
		return nil, http.StatusBadRequest, &errorBody{Code: "BadRequest", Message: "cannot read the body: " + err.Error()}
	}
	var body rowsBody
	if err := json.Unmarshal(raw, &body); err != nil || body.Rows == nil {
		msg := `the body must be {"rows":[{...}, ...]}`
		if err != nil {
			msg += ": " + err.Error()
		}
		return nil, http.StatusBadRequest, &errorBody{Code: "BadRequest", Message: msg}
	}
	recs, details, bad := s.checkRows(body.Rows, t)
	if bad > 0 {
		return nil, http.StatusBadRequest, &errorBody{Code: "BadRequest", Details: details,
			Message: fmt.Sprintf("%d of %d rows do not match table %s/%s; no row was stored", bad, len(recs), t.Dataset, t.Table)}
	}
	return recs, 0, nil
}

// checkRows decodes every row and checks it against the schema. It returns the records, up to
// maxDetails details, and the number of bad rows.
func (s *Server) checkRows(rows []json.RawMessage, t Target) ([]ingest.Record, []detail, int) {
	now := s.opts.Now()
	recs := make([]ingest.Record, len(rows))
	var details []detail
	bad := 0
	for i, raw := range rows {
		recs[i] = ingest.Record{Offset: int64(i), Raw: raw}
		err := decodeRow(raw, &recs[i].Fields)
		if err == nil {
			_, err = t.Schema.Coerce(recs[i].Fields, now)
		}
		if err == nil {
			continue
		}
		if bad++; len(details) < maxDetails {
			details = append(details, detail{Message: fmt.Sprintf("row %d: %v", i, err), Target: fmt.Sprintf("rows[%d]", i)})
		}
	}
	return recs, details, bad
}

// decodeRow decodes one row object, numbers as json.Number (as the file and Kafka decoders do).
func decodeRow(raw json.RawMessage, fields *map[string]any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(fields); err != nil || *fields == nil {
		return errors.New("a row must be a JSON object")
	}
	return nil
}

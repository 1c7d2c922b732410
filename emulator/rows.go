package emulator

import (
	"encoding/json"
	"net/http"
	"time"
)

// post is one POST rows request in flight.
type post struct {
	d     *dataset
	t     *table
	rules rowRules
	fault fault
}

func (s *Server) postRows(w http.ResponseWriter, r *http.Request) {
	p, aerr, pending := s.beginPost(r)
	if pending {
		s.writeThrottle(w, 1, "Too many pending requests for this dataset; at most "+itoa(s.o.PendingPosts)+" POST rows requests may be in flight.")
		return
	}
	if aerr != nil {
		aerr.write(w)
		return
	}
	defer s.endPost(p.d)
	rows, aerr := s.decodeRows(w, r)
	if p.fault.slow && !s.delay(r) {
		return
	}
	if aerr == nil {
		aerr = s.injected(p)
	}
	if aerr == nil {
		aerr = s.store(p, rows)
	}
	if aerr != nil {
		s.mu.Lock()
		p.d.noteViolationLocked(aerr)
		s.mu.Unlock()
		s.writeAPIError(w, aerr)
		return
	}
	if p.fault.drop {
		s.dropConnection(w)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// beginPost resolves dataset and table and takes a pending slot (pending=true: none free).
func (s *Server) beginPost(r *http.Request) (p post, aerr *apiError, pending bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.findLocked(r)
	if d == nil {
		return p, datasetNotFound(r), false
	}
	if !d.push {
		return p, notPush(d), false
	}
	t := d.table(r.PathValue("table"))
	if t == nil {
		return p, tableNotFound(d, r.PathValue("table")), false
	}
	if d.pending >= s.o.PendingPosts {
		d.stats.throttles[ReasonPending]++
		return p, nil, true
	}
	d.pending++
	d.stats.peakPending = max(d.stats.peakPending, d.pending)
	rules := rowRules{table: t.name, index: t.index, columns: t.columns, maxString: s.o.MaxStringLen,
		marker: s.o.RejectRowsContaining, strict: s.o.StrictTypes}
	return post{d: d, t: t, rules: rules, fault: s.rollLocked()}, nil, false
}

func (s *Server) endPost(d *dataset) {
	s.mu.Lock()
	d.pending--
	s.mu.Unlock()
}

// decodeRows reads and decodes {"rows":[...]} and applies the rows-per-request cap.
func (s *Server) decodeRows(w http.ResponseWriter, r *http.Request) ([]json.RawMessage, *apiError) {
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		return nil, aerr
	}
	m, aerr := object(body, "PostRowsRequest", "rows")
	if aerr != nil {
		return nil, aerr.inBody("requestMessage")
	}
	var rows []json.RawMessage
	if aerr := field(m, "PostRowsRequest", "rows", true, &rows); aerr != nil {
		return nil, aerr
	}
	if len(rows) > s.o.RowsPerPost {
		aerr := badRequest("rows", "The request has %d rows; at most %d rows are allowed per POST rows request.",
			len(rows), s.o.RowsPerPost)
		aerr.limit = LimitRowsPerPost
		return nil, aerr
	}
	return rows, nil
}

// store validates, admits and stores rows. Value errors are decided before the lock, but a
// throttled request is answered 429 first, as nothing of it is processed.
func (s *Server) store(p post, rows []json.RawMessage) *apiError {
	verr := p.rules.checkRows(rows)
	s.mu.Lock()
	defer s.mu.Unlock()
	d, t, now := p.d, p.t, s.o.Now()
	if aerr := s.admitLocked(d, now, int64(len(rows))); aerr != nil {
		return aerr
	}
	d.postsMin.add(now, 1)
	d.postsHour.add(now, 1)
	if verr == nil && d.retention == RetentionNone && t.count()+len(rows) > s.o.MaxTableRows {
		verr = &apiError{status: http.StatusBadRequest, code: CodeRowsLimit, limit: LimitTableRows,
			msg: "Table '" + t.name + "' would exceed the maximum of " + itoa(s.o.MaxTableRows) + " rows."}
	}
	if verr != nil {
		d.stats.rejected++
		d.stats.noteRejection(Rejection{At: now, Table: t.name, Reason: verr.msg})
		s.o.Logger.Debug("post rows rejected", "dataset", d.id, "table", t.name, "reason", verr.msg)
		return verr
	}
	s.appendLocked(p, rows, now)
	return nil
}

func (s *Server) appendLocked(p post, rows []json.RawMessage, now time.Time) {
	keep := 0
	if p.d.retention == RetentionBasicFIFO {
		keep = s.o.FIFORows
	}
	raw := make([][]byte, len(rows))
	for i, r := range rows {
		raw[i] = r
	}
	p.t.append(raw, keep)
	p.t.posts++
	n := int64(len(rows))
	p.d.rowsHour.add(now, n)
	p.d.noteRows(now, n)
	p.d.stats.posts++
	p.d.stats.rows += n
	if p.fault.drop {
		p.d.stats.dropped++
		p.d.stats.droppedRows += n
	}
}

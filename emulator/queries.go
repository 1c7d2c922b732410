package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Query limits of executeQueries (Datasets - Execute Queries, "Limitations").
const (
	DefaultQueriesPerMinute = 120     // query requests per minute per user (token)
	maxQueryRows            = 100000  // rows per query result
	maxQueryValues          = 1000000 // values per query result
)

// Codes of executeQueries errors.
const (
	CodeQueryFailure = "DatasetExecuteQueriesError"
	daxFailure       = "DAX query failure"
)

// queryRequest is a DatasetExecuteQueriesRequest after validation.
type queryRequest struct {
	query        string
	includeNulls bool
}

// executeQueries answers POST .../datasets/{id}/executeQueries for the supported DAX forms.
func (s *Server) executeQueries(w http.ResponseWriter, r *http.Request) {
	body, aerr := s.readBody(w, r)
	var req queryRequest
	if aerr == nil {
		req, aerr = parseQueryRequest(body)
	}
	if aerr == nil {
		aerr = s.admitQuery(r)
	}
	var res any
	if aerr == nil {
		res, aerr = s.runQuery(r, req)
	}
	if aerr != nil {
		s.writeAPIError(w, aerr.inBody("requestMessage"))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// parseQueryRequest validates the body: exactly one query (one query per API call).
func parseQueryRequest(body []byte) (queryRequest, *apiError) {
	const typ = "DatasetExecuteQueriesRequest"
	m, aerr := object(body, typ, "queries", "serializerSettings", "impersonatedUserName")
	var queries []json.RawMessage
	var settings json.RawMessage
	var user string
	if aerr == nil {
		aerr = firstErr(field(m, typ, "queries", true, &queries), field(m, typ, "serializerSettings", false, &settings),
			field(m, typ, "impersonatedUserName", false, &user))
	}
	if aerr == nil && len(queries) != 1 {
		aerr = badRequest("queries", "Exactly one query is supported per request; got %d.", len(queries))
	}
	var out queryRequest
	if aerr == nil {
		aerr = parseQuery(queries[0], &out.query)
	}
	if aerr == nil && len(settings) > 0 && string(settings) != "null" {
		const st = "DatasetExecuteQueriesSerializationSettings"
		var sm map[string]json.RawMessage
		if sm, aerr = object(settings, st, "includeNulls"); aerr == nil {
			aerr = field(sm, st, "includeNulls", false, &out.includeNulls)
		}
	}
	return out, aerr
}

func parseQuery(raw json.RawMessage, dst *string) *apiError {
	const typ = "DatasetExecuteQueriesQuery"
	m, aerr := object(raw, typ, "query")
	if aerr == nil {
		aerr = field(m, typ, "query", true, dst)
	}
	return aerr
}

// admitQuery applies the per-user (per-token) limit of query requests per minute.
func (s *Server) admitQuery(r *http.Request) *apiError {
	_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	win := s.queryWindows[token]
	if win == nil {
		win = newWindow(minute)
		s.queryWindows[token] = win
	}
	d := s.findLocked(r)
	if wait := win.wait(now, 1, int64(s.o.QueriesPerMinute)); wait > 0 {
		if d != nil {
			d.stats.throttles[ReasonQueriesPerMinute]++
		}
		secs := retryAfterSeconds(wait)
		return &apiError{status: http.StatusTooManyRequests, code: CodeTooManyRequest, retryAfter: secs,
			msg: throttleMessage(ReasonQueriesPerMinute, secs)}
	}
	win.add(now, 1)
	if d != nil {
		d.stats.queries++
	}
	return nil
}

// queryFailure is the 400 of a DAX query the emulator cannot evaluate.
func queryFailure(detail string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeQueryFailure, msg: daxFailure,
		details: []errorDetail{{Message: detail, Target: "query"}}, pbiDetail: detail}
}

// runQuery parses and evaluates the query against a snapshot of the dataset's rows.
func (s *Server) runQuery(r *http.Request, req queryRequest) (any, *apiError) {
	q, err := parseDAX(req.query)
	if err != nil {
		return nil, queryFailure(fmt.Sprintf("%v. The emulator supports only these forms: %s.", err, SupportedDAX))
	}
	snap, aerr := s.snapshot(r, q)
	if aerr != nil {
		return nil, aerr
	}
	var table map[string]any
	if q.topN != nil {
		table = snap.topN(q.topN, req.includeNulls)
	} else {
		table = map[string]any{"rows": []orderedRow{snap.row(q.row, req.includeNulls)}}
	}
	return map[string]any{"results": []any{map[string]any{"tables": []any{table}}}}, nil
}

// querySnapshot holds the rows of the tables a query reads, copied under the lock.
type querySnapshot struct {
	tables map[string]*tableSnapshot // lower-case name → snapshot
}

type tableSnapshot struct {
	name    string
	columns []Column
	count   int      // rows in the table
	rows    [][]byte // the rows the query reads: all, the first N for TOPN, or none for COUNTROWS
}

// snapshot copies the tables q names; unknown tables and columns fail the query.
func (s *Server) snapshot(r *http.Request, q *daxQuery) (*querySnapshot, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.findLocked(r)
	if d == nil {
		return nil, datasetNotFound(r)
	}
	if !d.push {
		return nil, queryFailure("The emulator answers queries on push datasets only.")
	}
	snap := &querySnapshot{tables: map[string]*tableSnapshot{}}
	for _, ref := range q.refs() {
		t := d.table(ref[0])
		if t == nil {
			return nil, queryFailure(fmt.Sprintf("Cannot find table '%s'.", ref[0]))
		}
		if ref[1] != "" && t.column(ref[1]) == nil {
			return nil, queryFailure(fmt.Sprintf("Column '%s' in table '%s' cannot be found or may not be used in this expression.", ref[1], t.name))
		}
		key := strings.ToLower(t.name)
		if snap.tables[key] == nil {
			snap.tables[key] = &tableSnapshot{name: t.name, columns: append([]Column(nil), t.columns...), count: t.count()}
		}
		snap.tables[key].rows = q.rowsNeeded(t, ref[1])
	}
	return snap, nil
}

// rowsNeeded returns the rows of t the query reads through the reference to column: none for
// COUNTROWS, the first N for an unordered TOPN, all of them otherwise (the longest need wins).
func (q *daxQuery) rowsNeeded(t *table, column string) [][]byte {
	switch {
	case q.topN != nil && !q.topN.order:
		return t.first(min(q.topN.n, maxQueryRows+1))
	case column != "" || q.topN != nil:
		return t.latest(0)
	}
	for _, sc := range q.row {
		if sc.column != "" && strings.EqualFold(sc.table, t.name) {
			return t.latest(0)
		}
	}
	return nil
}

// refs lists the (table, column) pairs a query reads; column is "" for a whole table.
func (q *daxQuery) refs() [][2]string {
	var out [][2]string
	for _, sc := range q.row {
		out = append(out, [2]string{sc.table, sc.column})
	}
	if q.topN != nil {
		out = append(out, [2]string{q.topN.table, q.topN.orderBy})
	}
	return out
}

func (q *querySnapshot) table(name string) *tableSnapshot { return q.tables[strings.ToLower(name)] }

// row evaluates ROW("name", scalar, ...). Like DAX, an aggregate over no rows is BLANK (null).
func (q *querySnapshot) row(scalars []daxScalar, includeNulls bool) orderedRow {
	var out orderedRow
	for _, sc := range scalars {
		t := q.table(sc.table)
		var n int
		if sc.fn == "COUNTROWS" {
			n = t.count
		} else {
			n = t.distinct(sc.column)
		}
		v := json.RawMessage("null")
		if n > 0 {
			v = json.RawMessage(itoa(n))
		} else if !includeNulls {
			continue
		}
		out = append(out, keyValue{"[" + sc.name + "]", v})
	}
	return out
}

// distinct counts the distinct values of column, BLANK included (as DISTINCTCOUNT does).
func (t *tableSnapshot) distinct(column string) int {
	name := columnIn(t.columns, column).Name
	seen := make(map[string]struct{}, len(t.rows))
	for _, raw := range t.rows {
		seen[string(bytes.TrimSpace(rowValue(raw, name)))] = struct{}{}
	}
	return len(seen)
}

// columnIn finds a column case-insensitively (DAX names are case-insensitive).
func columnIn(cols []Column, name string) *Column {
	for i := range cols {
		if strings.EqualFold(cols[i].Name, name) {
			return &cols[i]
		}
	}
	return nil
}

// keyValue is one column of a result row; orderedRow keeps the table's column order.
type keyValue struct {
	key   string
	value json.RawMessage
}

type orderedRow []keyValue

// MarshalJSON writes the row as an object in column order.
func (r orderedRow) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv.key)
		if err != nil {
			return nil, fmt.Errorf("marshal key: %w", err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(kv.value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

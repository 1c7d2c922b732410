package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

const (
	minute = time.Minute
	hour   = time.Hour
)

// tableJSON is a Table as the service returns it.
type tableJSON struct {
	Name    string   `json:"name"`
	Columns []Column `json:"columns"`
}

func (t *table) json() tableJSON {
	return tableJSON{Name: t.name, Columns: append([]Column{}, t.columns...)}
}

func (s *Server) listTables(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	d := s.findLocked(r)
	var out []tableJSON
	if d != nil {
		out = make([]tableJSON, 0, len(d.tables))
		for _, t := range d.tables {
			out = append(out, t.json())
		}
	}
	s.mu.Unlock()
	if d == nil {
		datasetNotFound(r).write(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": odataBase(r) + "#tables", "value": out})
}

// putTable replaces a table's column list. Rows keep the values of columns that survive with
// the same type; values of removed or retyped columns are dropped.
func (s *Server) putTable(w http.ResponseWriter, r *http.Request) {
	body, aerr := s.readBody(w, r)
	var nt *table
	if aerr == nil {
		nt, aerr = parseTable(body, s.o.MaxColumns)
	}
	if aerr == nil && !strings.EqualFold(nt.name, r.PathValue("table")) {
		aerr = badRequest("name", "Table name '%s' in the body does not match '%s' in the URL.", nt.name, r.PathValue("table"))
	}
	if aerr == nil {
		aerr = s.replaceColumns(r, nt)
	}
	if aerr != nil {
		aerr.inBody("requestMessage").write(w)
		return
	}
	writeJSON(w, http.StatusOK, nt.json())
}

func (s *Server) replaceColumns(r *http.Request, nt *table) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.findLocked(r)
	if d == nil {
		return datasetNotFound(r)
	}
	t := d.table(nt.name)
	if t == nil {
		return tableNotFound(d, nt.name)
	}
	old := t.index
	t.setColumns(nt.columns)
	for i := t.head; i < len(t.rows); i++ {
		t.rows[i] = projectRow(t.rows[i], old, t.index)
	}
	return nil
}

// projectRow drops the values of columns that are gone or changed type.
func projectRow(row []byte, old, cur map[string]string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(row, &m) != nil {
		return row
	}
	changed := false
	for k := range m {
		if cur[k] == "" || cur[k] != old[k] {
			delete(m, k)
			changed = true
		}
	}
	if !changed {
		return row
	}
	out, err := json.Marshal(m)
	if err != nil {
		return row
	}
	return out
}

func tableNotFound(d *dataset, name string) *apiError {
	return notFound("Table '%s' not found in dataset '%s'.", name, d.id)
}

func (s *Server) deleteRows(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	d := s.findLocked(r)
	var aerr *apiError
	switch {
	case d == nil:
		aerr = datasetNotFound(r)
	case !d.push:
		aerr = notPush(d)
	case d.table(r.PathValue("table")) == nil:
		aerr = tableNotFound(d, r.PathValue("table"))
	default:
		d.table(r.PathValue("table")).clearRows()
	}
	s.mu.Unlock()
	if aerr != nil {
		aerr.write(w)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func notPush(d *dataset) *apiError {
	return notFound("Dataset %s is not Push API dataset.", d.id)
}

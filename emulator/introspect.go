package emulator

import (
	"bytes"
	"embed"
	"net/http"
	"strconv"
)

//go:embed web/index.html
var webFS embed.FS

func (s *Server) introspectionRoutes() {
	s.mux.HandleFunc("GET /emulator/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, s.Stats())
	})
	s.mux.HandleFunc("GET /emulator/datasets/{id}/tables/{table}/rows", s.serveRows)
	s.mux.HandleFunc("POST /emulator/datasets/{id}/tables/{table}/preload", s.servePreload)
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page, err := webFS.ReadFile("web/index.html")
		if err != nil {
			writeError(w, http.StatusInternalServerError, CodeInternal, "web page missing")
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	})
}

// serveRows answers {"rows":[...]} with the table's rows, oldest first; ?limit=N keeps the
// newest N.
func (s *Server) serveRows(w http.ResponseWriter, r *http.Request) {
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil && r.URL.Query().Has("limit") {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "limit must be an integer")
		return
	}
	rows := s.rawRows(r.PathValue("id"), r.PathValue("table"), limit)
	if rows == nil && !s.hasTable(r.PathValue("id"), r.PathValue("table")) {
		writeError(w, http.StatusNotFound, CodeNotFound, "No such dataset or table.")
		return
	}
	var buf bytes.Buffer
	buf.WriteString(`{"rows":[`)
	for i, row := range rows {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(row)
	}
	buf.WriteString("]}\n")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) hasTable(id, table string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.datasets {
		if d.id == id && d.table(table) != nil {
			return true
		}
	}
	return false
}

// servePreload stores ?rows=N synthetic rows in a table (Server.Preload) and answers
// {"preloaded":N,"rows":<rows the table holds now>}.
func (s *Server) servePreload(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("rows"))
	if err != nil || n < 0 {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "rows must be a non-negative integer")
		return
	}
	id, table := r.PathValue("id"), r.PathValue("table")
	if !s.hasTable(id, table) {
		writeError(w, http.StatusNotFound, CodeNotFound, "No such dataset or table.")
		return
	}
	if err := s.Preload(id, table, n); err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"preloaded": n, "rows": len(s.rawRows(id, table, 0))})
}

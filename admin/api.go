package admin

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
)

// The live spool API (JSON), served beside /metrics and /status.
const (
	APISpool       = "/api/v1/spool"
	APIDeadLetters = "/api/v1/dead-letters"
	APIReplay      = "/api/v1/dead-letters/replay"
	APIPurge       = "/api/v1/dead-letters/purge"
)

// Page sizes of GET /api/v1/dead-letters.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// apiError is the body of every API error.
type apiError struct {
	Error string `json:"error"`
}

// MutationResult is the answer of replay and purge.
type MutationResult struct {
	Replayed *int `json:"replayed,omitempty"`
	Purged   *int `json:"purged,omitempty"`
}

func (s *Server) apiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+APISpool, s.withSpool(func(w http.ResponseWriter, _ *http.Request, sp SpoolAdmin) {
		writeJSONBody(w, http.StatusOK, ViewSpool(sp, s.now()))
	}))
	mux.HandleFunc("GET "+APIDeadLetters, s.withSpool(s.listDeadLetters))
	mux.HandleFunc("POST "+APIReplay, s.mutating(func(w http.ResponseWriter, r *http.Request, sp SpoolAdmin, f spool.DeadFilter) {
		n, err := sp.ReplayDeadLetters(f)
		s.answerMutation(w, "replayed", err, MutationResult{Replayed: &n})
	}))
	mux.HandleFunc("POST "+APIPurge, s.mutating(func(w http.ResponseWriter, r *http.Request, sp SpoolAdmin, f spool.DeadFilter) {
		n, err := sp.PurgeDeadLetters(f)
		s.answerMutation(w, "purged", err, MutationResult{Purged: &n})
	}))
}

func (s *Server) now() time.Time {
	if s.o.Now != nil {
		return s.o.Now()
	}
	if s.o.Metrics != nil {
		return s.o.Metrics.sources().Now() // the clock /status uses
	}
	return time.Now()
}

// SetSpool attaches the open spool to the API (it answers 503 before).
func (s *Server) SetSpool(sp SpoolAdmin) {
	s.spool.Store(&sp)
}

func (s *Server) withSpool(h func(http.ResponseWriter, *http.Request, SpoolAdmin)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := s.spool.Load()
		if p == nil || *p == nil {
			writeJSONBody(w, http.StatusServiceUnavailable, apiError{"the spool is not open yet"})
			return
		}
		h(w, r, *p)
	}
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request, sp SpoolAdmin) {
	f, err := ParseDeadFilter(r.URL.Query())
	if err == nil && f.Limit > MaxPageSize {
		err = fmt.Errorf("limit %d is over %d", f.Limit, MaxPageSize)
	}
	if err != nil {
		writeJSONBody(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	if f.Limit == 0 {
		f.Limit = DefaultPageSize
	}
	page, err := FindDeadLetterPage(sp, f)
	if err != nil {
		s.log.Error("admin API: list dead letters", "err", err)
		writeJSONBody(w, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	writeJSONBody(w, http.StatusOK, page)
}

// mutating checks the bearer token and reads the filter of a replay or purge. It refuses an
// empty filter unless all=true, so that a forgotten parameter never touches every dead letter.
func (s *Server) mutating(h func(http.ResponseWriter, *http.Request, SpoolAdmin, spool.DeadFilter)) http.HandlerFunc {
	return s.withSpool(func(w http.ResponseWriter, r *http.Request, sp SpoolAdmin) {
		if code, msg := s.authorize(r); code != 0 {
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="pbi-pusher admin"`)
			}
			writeJSONBody(w, code, apiError{msg})
			return
		}
		if err := r.ParseForm(); err != nil {
			writeJSONBody(w, http.StatusBadRequest, apiError{err.Error()})
			return
		}
		f, err := ParseDeadFilter(r.Form)
		if err == nil && (f.After != 0 || f.Limit != 0) {
			err = errors.New("after and limit are for listing; replay and purge take ids or a filter")
		}
		if err == nil && emptyFilter(f) && r.Form.Get("all") != "true" {
			err = errors.New("name dead letters with id, or a filter (dataset, table, reason, since, until), or all=true")
		}
		if err != nil {
			writeJSONBody(w, http.StatusBadRequest, apiError{err.Error()})
			return
		}
		h(w, r, sp, f)
	})
}

func emptyFilter(f spool.DeadFilter) bool {
	return f.IDs == nil && f.Dataset == "" && f.Table == "" && f.Reason == "" && f.Since.IsZero() && f.Until.IsZero()
}

// authorize returns 0 when the request may change the spool, else the status and why not.
func (s *Server) authorize(r *http.Request) (int, string) {
	if s.o.Token == "" {
		if LoopbackListen(s.o.Listen) {
			return 0, ""
		}
		return http.StatusForbidden, "admin.listen is not a loopback address: set admin.token_file to allow replay and purge"
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.o.Token)) != 1 {
		return http.StatusUnauthorized, "a valid bearer token is required (admin.token_file)"
	}
	return 0, ""
}

func (s *Server) answerMutation(w http.ResponseWriter, op string, err error, res MutationResult) {
	if err != nil {
		// Unknown ids and queueless dead letters named by id are the caller's mistake.
		if strings.Contains(err.Error(), "not found") || strings.Contains(err.Error(), "has no queue") {
			writeJSONBody(w, http.StatusNotFound, apiError{err.Error()})
			return
		}
		s.log.Error("admin API: dead letters not "+op, "err", err)
		writeJSONBody(w, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	n := res.Replayed
	if n == nil {
		n = res.Purged
	}
	s.log.Info("admin API: dead letters "+op, "rows", *n)
	writeJSONBody(w, http.StatusOK, res)
}

// LoopbackListen reports whether a listen address (host:port) accepts only local connections.
func LoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseDeadFilter reads a dead-letter filter from query or form values: id (repeatable),
// table (TABLE or DATASET/TABLE), dataset, reason (substring), since and until (RFC 3339),
// after (paging) and limit.
func ParseDeadFilter(v url.Values) (spool.DeadFilter, error) {
	var f spool.DeadFilter
	for _, s := range v["id"] {
		for _, part := range strings.Split(s, ",") {
			id, err := strconv.ParseUint(strings.TrimSpace(part), 10, 64)
			if err != nil || id == 0 {
				return f, fmt.Errorf("id %q is not a dead letter id", part)
			}
			f.IDs = append(f.IDs, id)
		}
	}
	if t := v.Get("table"); t != "" {
		f.Dataset, f.Table = ParseTableRef(t)
	}
	if ds := v.Get("dataset"); ds != "" {
		f.Dataset = ds
	}
	f.Reason = v.Get("reason")
	for _, tf := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := v.Get(tf.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return f, fmt.Errorf("%s %q is not an RFC 3339 time", tf.name, s)
			}
			*tf.dst = t
		}
	}
	for _, nf := range []struct {
		name string
		dst  func(uint64)
	}{{"after", func(n uint64) { f.After = n }}, {"limit", func(n uint64) { f.Limit = int(n) }}} {
		if s := v.Get(nf.name); s != "" {
			n, err := strconv.ParseUint(s, 10, 31)
			if err != nil {
				return f, fmt.Errorf("%s %q is not a non-negative number", nf.name, s)
			}
			nf.dst(n)
		}
	}
	return f, nil
}

// DeadFilterValues is ParseDeadFilter's inverse (for clients of the API).
func DeadFilterValues(f spool.DeadFilter) url.Values {
	v := url.Values{}
	for _, id := range f.IDs {
		v.Add("id", strconv.FormatUint(id, 10))
	}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("dataset", f.Dataset)
	set("table", f.Table)
	set("reason", f.Reason)
	if !f.Since.IsZero() {
		v.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		v.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	if f.After != 0 {
		v.Set("after", strconv.FormatUint(f.After, 10))
	}
	if f.Limit != 0 {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	return v
}

func writeJSONBody(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

package httpsrc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

const rowsPath = "datasets/{dataset}/tables/{table}/rows"

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1.0/myorg/"+rowsPath, s.postRows)
	mux.HandleFunc("/v1.0/myorg/groups/{group}/"+rowsPath, s.postRows)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "only POST .../datasets/{dataset}/tables/{table}/rows is served here")
	})
	return s.authorize(mux)
}

// authorize requires one of the configured bearer tokens, when there are any.
func (s *Server) authorize(next http.Handler) http.Handler {
	if len(s.tokens) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.tokenOK(r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pbi-pusher"`)
			writeError(w, http.StatusUnauthorized, "Unauthorized", "a valid bearer token is required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tokenOK compares the bearer token with every configured one in constant time (hashes make the
// lengths equal).
func (s *Server) tokenOK(header string) bool {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := 0
	for _, want := range s.tokens {
		match |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return match == 1
}

func (s *Server) postRows(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
		return
	}
	target, ok := s.resolve(r.PathValue("dataset"), r.PathValue("table"))
	if !ok {
		writeError(w, http.StatusNotFound, "ItemNotFound",
			fmt.Sprintf("table %q of dataset %q is not configured for this source", r.PathValue("table"), r.PathValue("dataset")))
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-r.Context().Done():
		return // the client is gone
	}
	if s.opts.Full() {
		writeUnavailable(w, s.opts.RetryAfter, "the spool is full; retry later")
		return
	}
	recs, status, apiErr := s.readRows(w, r, target)
	if apiErr != nil {
		writeError(w, status, apiErr.Code, apiErr.Message, apiErr.Details...)
		return
	}
	s.spoolRows(w, r, target, recs)
}

// resolve finds the target and checks it belongs to the source's dataset.
func (s *Server) resolve(dataset, table string) (Target, bool) {
	t, ok := s.opts.Resolve(dataset, table)
	if !ok || (s.dataset != "" && t.Dataset != s.dataset) {
		return Target{}, false
	}
	return t, true
}

// spoolRows writes the records and answers 200 only once the writer returned without error.
func (s *Server) spoolRows(w http.ResponseWriter, r *http.Request, t Target, recs []ingest.Record) {
	if len(recs) > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.WriteTimeout)
		defer cancel()
		_, err := t.Writer.Write(ctx, "http:"+t.Dataset+"/"+t.Table, recs, nil)
		switch {
		case errors.Is(err, spool.ErrFull):
			writeUnavailable(w, s.opts.RetryAfter, "the spool is full; retry later")
			return
		case err != nil:
			s.log.Error("http source: spooling rows failed", "table", t.Dataset+"/"+t.Table, "rows", len(recs), "err", err)
			writeError(w, http.StatusInternalServerError, "InternalServerError", "the rows could not be spooled; retry later")
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

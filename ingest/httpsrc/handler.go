package httpsrc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

const rowsPath = "datasets/{dataset}/tables/{table}/rows"

// Reasons label refused requests in Options.Rejected (and the metrics built on it).
const (
	ReasonTooManyRows  = "too_many_rows"          // over MaxRowsPerRequest rows (400)
	ReasonSchema       = "schema"                 // a row failed the table's schema (400)
	ReasonMalformed    = "malformed"              // not {"rows":[...]}, bad JSON or gzip (400)
	ReasonMediaType    = "unsupported_media_type" // Content-Type or Content-Encoding (415)
	ReasonOrigin       = "origin"                 // a browser Origin not listed (403)
	ReasonUnauthorized = "unauthorized"           // no or a wrong bearer token (401)
	ReasonTooLarge     = "too_large"              // body over MaxBodyBytes (413)
	ReasonTimeout      = "timeout"                // body not received within ReadTimeout (408)
	ReasonBusy         = "busy"                   // the row memory budget stayed exhausted (503)
	ReasonSpoolFull    = "spool_full"             // the spool is full (503)
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1.0/myorg/"+rowsPath, s.postRows)
	mux.HandleFunc("/v1.0/myorg/groups/{group}/"+rowsPath, s.postRows)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "only POST .../datasets/{dataset}/tables/{table}/rows is served here")
	})
	return s.checkOrigin(s.authorize(mux))
}

// checkOrigin refuses browser requests (they carry Origin) from origins not listed in
// sources[].allowed_origins, and answers the CORS preflight of listed ones. Without it any web
// page a user visits could post rows through the user's browser (a text/plain "simple" request
// needs no preflight).
func (s *Server) checkOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !s.origins[strings.ToLower(strings.TrimSuffix(origin, "/"))] {
			s.refuse(w, reject(http.StatusForbidden, ReasonOrigin, "Forbidden",
				"requests from origin %q are not accepted (sources[].allowed_origins)", clip(origin)))
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorize requires one of the configured bearer tokens, when there are any.
func (s *Server) authorize(next http.Handler) http.Handler {
	if len(s.tokens) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.tokenOK(r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pbi-pusher"`)
			s.refuse(w, reject(http.StatusUnauthorized, ReasonUnauthorized, "Unauthorized", "a valid bearer token is required"))
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

// jsonBody reports whether the request declares a JSON body (application/json, any parameters).
func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
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
	if !jsonBody(r) {
		s.refuse(w, reject(http.StatusUnsupportedMediaType, ReasonMediaType, "UnsupportedMediaType",
			"Content-Type must be application/json, not %q", clip(r.Header.Get("Content-Type"))))
		return
	}
	if s.opts.Full() {
		s.refuse(w, s.spoolFull())
		return
	}
	// The whole body must arrive within ReadTimeout, so a stalled producer cannot hold on.
	deadline := time.Now().Add(s.opts.ReadTimeout)
	_ = http.NewResponseController(w).SetReadDeadline(deadline) // unsupported by some test writers
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	hold := s.budget.hold()
	defer hold.release()
	recs, rej := s.readRows(ctx, w, r, target, hold)
	if rej != nil {
		s.refuse(w, rej)
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-r.Context().Done():
		return // the client is gone
	}
	s.spoolRows(w, r, target, recs)
}

// refuse answers a refused request and counts it.
func (s *Server) refuse(w http.ResponseWriter, rej *rejection) {
	s.opts.Rejected(rej.reason, rej.rows)
	if rej.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter(s.opts.RetryAfter))
	}
	writeError(w, rej.status, rej.body.Code, rej.body.Message, rej.body.Details...)
}

func (s *Server) spoolFull() *rejection {
	return reject(http.StatusServiceUnavailable, ReasonSpoolFull, "ServiceUnavailable", "the spool is full; retry later")
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
			rej := s.spoolFull()
			rej.rows = len(recs)
			s.refuse(w, rej)
			return
		case err != nil:
			s.log.Error("http source: spooling rows failed", "table", t.Dataset+"/"+t.Table, "rows", len(recs), "err", err)
			writeError(w, http.StatusInternalServerError, "InternalServerError", "the rows could not be spooled; retry later")
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

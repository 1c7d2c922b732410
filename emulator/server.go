package emulator

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Server is the emulator: an http.Handler serving the push API under /v1.0/myorg, the
// introspection API under /emulator/ and the web page at /.
type Server struct {
	o   Options
	mux *http.ServeMux

	mu         sync.Mutex
	datasets   []*dataset // creation order
	rng        *mrand.Rand
	workspaces []*Workspace // creation order; My workspace is implicit
	// queryWindows are the executeQueries request windows per bearer token (per user).
	queryWindows map[string]*window
}

// New returns a Server; zero Options give Power BI's limits and no faults.
func New(o Options) *Server {
	s := &Server{o: o.withDefaults(), mux: http.NewServeMux(), queryWindows: map[string]*window{}}
	s.rng = mrand.New(mrand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	for _, ws := range s.o.Workspaces {
		if err := s.CreateWorkspace(ws.ID, ws.Name); err != nil {
			s.o.Logger.Error("workspace not created", "err", err)
		}
	}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("RequestId", newID())
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	for _, p := range []string{"/v1.0/myorg", "/v1.0/myorg/groups/{group}"} {
		s.api("POST "+p+"/datasets", s.createDataset)
		s.api("GET "+p+"/datasets", s.listDatasets)
		s.api("GET "+p+"/datasets/{id}", s.getDataset)
		s.api("DELETE "+p+"/datasets/{id}", s.deleteDataset)
		s.api("GET "+p+"/datasets/{id}/tables", s.listTables)
		s.api("PUT "+p+"/datasets/{id}/tables/{table}", s.putTable)
		s.api("POST "+p+"/datasets/{id}/tables/{table}/rows", s.postRows)
		s.api("DELETE "+p+"/datasets/{id}/tables/{table}/rows", s.deleteRows)
		s.api("POST "+p+"/datasets/{id}/executeQueries", s.executeQueries)
	}
	s.api("GET /v1.0/myorg/groups", s.listGroups)
	s.api("POST /v1.0/myorg/groups", s.createGroup)
	s.mux.HandleFunc("/v1.0/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "No HTTP resource was found that matches the request URI.")
	})
	s.introspectionRoutes()
}

// api registers an authenticated push-API handler.
func (s *Server) api(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		switch s.authorized(r) {
		case tokenExpired:
			s.o.Logger.Debug("request with an expired token", "method", r.Method, "path", r.URL.Path)
			writeTokenExpired(w)
			return
		case tokenRefused:
			s.o.Logger.Debug("request unauthorized", "method", r.Method, "path", r.URL.Path)
			writeUnauthorized(w)
			return
		}
		if s.checkGroup(w, r) {
			h(w, r)
		}
	})
}

// tokenVerdict is the outcome of checking a request's bearer token.
type tokenVerdict int

const (
	tokenOK      tokenVerdict = iota
	tokenRefused              // missing, unknown or without access: 401
	tokenExpired              // known but expired: 403 TokenExpired
)

// authorized checks the bearer token against Tokens, ValidateToken and ExpiredToken.
func (s *Server) authorized(r *http.Request) tokenVerdict {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return tokenRefused
	}
	token = strings.TrimSpace(token)
	if len(s.o.Tokens) == 0 && s.o.ValidateToken == nil && s.o.ExpiredToken == nil {
		return tokenOK
	}
	if slices.Contains(s.o.Tokens, token) || (s.o.ValidateToken != nil && s.o.ValidateToken(token)) {
		return tokenOK
	}
	if s.o.ExpiredToken != nil && s.o.ExpiredToken(token) {
		return tokenExpired
	}
	return tokenRefused
}

// readBody reads at most MaxBodyBytes; a larger body is a 413.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if r.ContentLength > s.o.MaxBodyBytes {
		return nil, tooLarge(s.o.MaxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(s.o.MaxBodyBytes)
	}
	if err != nil {
		return nil, badRequest("body", "The request body could not be read.")
	}
	return body, nil
}

func tooLarge(limit int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge, limit: LimitBodyBytes,
		msg: fmt.Sprintf("The request body exceeds %d bytes.", limit)}
}

// newID returns a random GUID string.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// workspace returns the request's workspace key ("" = My workspace).
func workspace(r *http.Request) string { return strings.ToLower(r.PathValue("group")) }

// findLocked returns the dataset id in r's workspace, or nil. s.mu must be held.
func (s *Server) findLocked(r *http.Request) *dataset {
	id, ws := strings.ToLower(r.PathValue("id")), workspace(r)
	for _, d := range s.datasets {
		if d.id == id && d.workspace == ws {
			return d
		}
	}
	return nil
}

// odataBase is the @odata.context prefix for r's workspace.
func odataBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base := scheme + "://" + r.Host + "/v1.0/myorg"
	if g := r.PathValue("group"); g != "" {
		base += "/groups/" + g
	}
	return base + "/$metadata"
}

package aad

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// handleManagedIdentity serves the App Service (X-IDENTITY-HEADER) and IMDS (Metadata: true)
// managed identity token endpoints.
func (s *Server) handleManagedIdentity(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.ManagedIdentity++ })
	if !s.identityHeaderOK(r) {
		s.fail(w, errBadIdentity)
		return
	}
	resource := r.URL.Query().Get("resource")
	if resource == "" {
		s.fail(w, errNoResource)
		return
	}
	tok, life := s.issueAccess()
	resp := map[string]any{
		"access_token": tok, "token_type": "Bearer", "resource": resource,
		"expires_on": unixString(s.opts.Now().Add(life)),
	}
	if id := r.URL.Query().Get("client_id"); id != "" {
		resp["client_id"] = id
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) identityHeaderOK(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/metadata/") {
		return r.Header.Get("Metadata") == "true"
	}
	got := r.Header.Get("X-IDENTITY-HEADER")
	if s.opts.IdentityHeader == "" {
		return got != ""
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.IdentityHeader)) == 1
}

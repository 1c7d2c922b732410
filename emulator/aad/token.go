package aad

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// maxFormBytes caps a token request body.
const maxFormBytes = 64 << 10

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, oauthError{http.StatusBadRequest, "invalid_request", "AADSTS900144: malformed request body."})
		return
	}
	tenant := r.PathValue("tenant")
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
		s.clientCredentials(w, r, tenant)
	case "password":
		s.passwordGrant(w, r, tenant)
	case "refresh_token":
		s.refreshGrant(w, r)
	case "device_code", "urn:ietf:params:oauth:grant-type:device_code":
		s.deviceCodeGrant(w, r)
	default:
		s.fail(w, errBadGrant)
	}
}

// clientCredentials authenticates the client by secret or assertion and issues an app token.
func (s *Server) clientCredentials(w http.ResponseWriter, r *http.Request, tenant string) {
	if e, ok := s.authenticateClient(r, tenant); !ok {
		s.fail(w, e)
		return
	}
	if !hasDefaultScope(r.PostForm.Get("scope")) {
		s.fail(w, errBadScope)
		return
	}
	s.appToken(w)
}

// hasDefaultScope reports whether one of the space-separated scopes is a resource's /.default.
func hasDefaultScope(scopes string) bool {
	for _, sc := range strings.Fields(scopes) {
		if strings.HasSuffix(sc, "/.default") {
			return true
		}
	}
	return false
}

// authenticateClient checks the client secret or client assertion of r and counts the grant.
func (s *Server) authenticateClient(r *http.Request, tenant string) (oauthError, bool) {
	f := r.PostForm
	id := f.Get("client_id")
	switch {
	case f.Get("client_secret") != "":
		s.count(func(st *Stats) { st.ClientSecret++ })
		return s.checkSecret(id, f.Get("client_secret"))
	case f.Get("client_assertion") != "":
		return s.checkAssertion(id, f.Get("client_assertion"), tokenEndpoint(r, tenant))
	default:
		return errNoCredential, false
	}
}

func (s *Server) checkSecret(id, secret string) (oauthError, bool) {
	want, ok := s.opts.Clients[id]
	if !ok {
		return errUnknownClient, false
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		return errBadSecret, false
	}
	return oauthError{}, true
}

// passwordGrant is ROPC: any client id, a user from Options.Users.
func (s *Server) passwordGrant(w http.ResponseWriter, r *http.Request, tenant string) {
	s.count(func(st *Stats) { st.Password++ })
	f := r.PostForm
	want, ok := s.opts.Users[f.Get("username")]
	if !ok || f.Get("client_id") == "" ||
		subtle.ConstantTimeCompare([]byte(want), []byte(f.Get("password"))) != 1 {
		s.fail(w, errBadPassword)
		return
	}
	s.userToken(w, session{clientID: f.Get("client_id"), user: f.Get("username"), tenant: tenant, scope: f.Get("scope")})
}

// refreshGrant redeems a refresh token issued to the same client.
func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.RefreshToken++ })
	f := r.PostForm
	s.mu.Lock()
	sess, ok := s.refresh[f.Get("refresh_token")]
	s.mu.Unlock()
	if !ok || sess.clientID != f.Get("client_id") {
		s.fail(w, errBadRefresh)
		return
	}
	if sc := f.Get("scope"); sc != "" {
		sess.scope = sc
	}
	s.userToken(w, sess)
}

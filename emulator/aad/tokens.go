package aad

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenResponse is the token endpoint's success body.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	RefreshIn    int64  `json:"refresh_in,omitempty"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

// randomToken returns a random opaque token with prefix.
func randomToken(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// ExpiredMemory is how long an expired access token is still recognised as expired (rather
// than unknown) by Server.Expired.
const ExpiredMemory = 24 * time.Hour

// issueAccess records and returns a new access token and its advertised lifetime. The token
// dies after DiesAfter when that is shorter.
func (s *Server) issueAccess() (string, time.Duration) {
	tok := randomToken("fake-aad-at.")
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, exp := range s.access { // forget long-expired tokens so the map stays small
		if now.Sub(exp) >= ExpiredMemory {
			delete(s.access, t)
		}
	}
	life := s.opts.TokenLifetime
	if s.opts.DiesAfter > 0 && s.opts.DiesAfter < life {
		life = s.opts.DiesAfter
	}
	s.access[tok] = now.Add(life)
	s.stats.Issued++
	return tok, s.opts.TokenLifetime
}

// appToken answers a client credentials grant.
func (s *Server) appToken(w http.ResponseWriter) {
	tok, life := s.issueAccess()
	writeJSON(w, http.StatusOK, s.withRefreshIn(tokenResponse{
		TokenType: "Bearer", AccessToken: tok, ExpiresIn: seconds(life), ExtExpiresIn: seconds(life),
	}))
}

// userToken answers a user grant (password, device code, refresh token) for sess.
func (s *Server) userToken(w http.ResponseWriter, sess session) {
	tok, life := s.issueAccess()
	rt := randomToken("fake-aad-rt.")
	s.mu.Lock()
	s.refresh[rt] = sess
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.withRefreshIn(tokenResponse{
		TokenType: "Bearer", AccessToken: tok, ExpiresIn: seconds(life), ExtExpiresIn: seconds(life),
		Scope: sess.scope, RefreshToken: rt, IDToken: s.idToken(sess), ClientInfo: clientInfo(sess),
	}))
}

func (s *Server) withRefreshIn(r tokenResponse) tokenResponse {
	if s.opts.RefreshIn > 0 {
		r.RefreshIn = seconds(s.opts.RefreshIn)
	}
	return r
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// userID is the stable object id of user.
func userID(user string) string {
	return "oid-" + base64.RawURLEncoding.EncodeToString([]byte(user))
}

// idToken returns an HS256 id_token for sess (MSAL does not check its signature).
func (s *Server) idToken(sess session) string {
	now := s.opts.Now()
	claims := jwt.MapClaims{
		"aud": sess.clientID, "iss": "https://fake-aad/" + sess.tenant + "/v2.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"oid": userID(sess.user), "sub": userID(sess.user), "tid": sess.tenant,
		"preferred_username": sess.user, "name": sess.user, "ver": "2.0",
	}
	signed, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(randomToken("k"))) // HMAC signing cannot fail
	return signed
}

// clientInfo is base64url {"uid","utid"}, which MSAL uses as the home account id.
func clientInfo(sess session) string {
	b, _ := json.Marshal(map[string]string{"uid": userID(sess.user), "utid": sess.tenant}) // a string map always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

// unixString formats t as decimal unix seconds.
func unixString(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

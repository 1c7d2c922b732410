package aad

import (
	"net/http"
	"strings"
)

// baseURL is the scheme and host the request reached s at.
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// tokenEndpoint is the token endpoint of tenant as seen through r.
func tokenEndpoint(r *http.Request, tenant string) string {
	return baseURL(r) + "/" + tenant + "/oauth2/v2.0/token"
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Discovery++ })
	t := r.PathValue("tenant")
	base := baseURL(r) + "/" + t
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"issuer":                                base + "/v2.0",
		"tenant_region_scope":                   "WW",
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
	})
}

func (s *Server) handleUserRealm(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.UserRealm++ })
	user := r.PathValue("user")
	domain := user[strings.LastIndex(user, "@")+1:]
	writeJSON(w, http.StatusOK, map[string]any{
		"ver": "1.0", "account_type": "Managed", "domain_name": domain,
		"cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline",
	})
}

package aad

import (
	"encoding/json"
	"net/http"
)

// oauthError is an Azure AD error response body.
type oauthError struct {
	status int
	Code   string `json:"error"`
	Desc   string `json:"error_description"`
}

// Error codes and texts modelled on Azure AD's.
var (
	errBadSecret     = oauthError{http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided."}
	errUnknownClient = oauthError{http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application was not found in the directory."}
	errBadAssertion  = oauthError{http.StatusUnauthorized, "invalid_client", "AADSTS700027: Client assertion failed signature validation."}
	errNoFederation  = oauthError{http.StatusBadRequest, "invalid_client", "AADSTS70021: No matching federated identity record found for presented assertion."}
	errNoCredential  = oauthError{http.StatusUnauthorized, "invalid_client", "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'."}
	errBadPassword   = oauthError{http.StatusBadRequest, "invalid_grant", "AADSTS50126: Error validating credentials due to invalid username or password."}
	errBadRefresh    = oauthError{http.StatusBadRequest, "invalid_grant", "AADSTS70000: Provided grant is invalid or malformed."}
	errPending       = oauthError{http.StatusBadRequest, "authorization_pending", "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending."}
	errBadDevice     = oauthError{http.StatusBadRequest, "expired_token", "AADSTS70020: The provided value for the input parameter 'device_code' is not valid."}
	errBadGrant      = oauthError{http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type."}
	errBadScope      = oauthError{http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier."}
	errBadIdentity   = oauthError{http.StatusUnauthorized, "invalid_request", "missing or wrong X-IDENTITY-HEADER"}
	errNoResource    = oauthError{http.StatusBadRequest, "invalid_request", "resource is required"}
)

// fail writes e and counts a rejection.
func (s *Server) fail(w http.ResponseWriter, e oauthError) {
	s.count(func(st *Stats) { st.Rejected++ })
	s.log.Debug("aad rejected request", "error", e.Code, "description", e.Desc)
	writeJSON(w, e.status, e)
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

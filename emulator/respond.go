package emulator

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error codes. ItemNotFound, BadRequest, PowerBINotAuthorizedException and
// RequestEntityTooLarge are seen from the service; the throttling codes are guesses.
const (
	CodeNotFound       = "ItemNotFound"
	CodeBadRequest     = "BadRequest"
	CodeNotAuthorized  = "PowerBINotAuthorizedException"
	CodeTooLarge       = "RequestEntityTooLarge"
	CodeTooManyRequest = "TooManyRequests"
	CodeRowsLimit      = "RowsLimitExceeded"
	CodeInternal       = "InternalServerError"
	CodeMethod         = "MethodNotAllowed"
	CodeTokenExpired   = "TokenExpired"
)

// tokenExpiredMessage is the message of the live service's 403 for an expired token
// (../shared/pbi-api.md §8).
const tokenExpiredMessage = "Access token has expired, resubmit with a new access token"

// errorDetail is one entry of error.details.
type errorDetail struct {
	Message string `json:"message"`
	Target  string `json:"target,omitempty"`
}

type errorBody struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Details []errorDetail `json:"details,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string, details ...errorDetail) {
	writeJSON(w, status, map[string]errorBody{"error": {Code: code, Message: msg, Details: details}})
}

// Throttle body shapes (Options.ThrottleBody).
const (
	ThrottleBodyMessage = "message"
	ThrottleBodyError   = "error"
)

// writeThrottle answers 429 with an integer Retry-After and, by default, the bare
// {"message":"…"} body captured from the live service (../shared/pbi-api.md §8).
func (s *Server) writeThrottle(w http.ResponseWriter, seconds int64, msg string) {
	w.Header().Set("Retry-After", strconv.FormatInt(seconds, 10))
	if s.o.ThrottleBody == ThrottleBodyError {
		writeError(w, http.StatusTooManyRequests, CodeTooManyRequest, msg)
		return
	}
	writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": msg})
}

// writeAPIError answers e; a 429 gets Retry-After and the configured throttle body.
func (s *Server) writeAPIError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusTooManyRequests {
		s.writeThrottle(w, e.retryAfter, e.msg)
		return
	}
	e.write(w)
}

// writeUnauthorized answers 401 in the shape the service uses for authorization failures.
func writeUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="Power BI emulator"`)
	writePBIError(w, http.StatusUnauthorized, CodeNotAuthorized)
}

// writePBIError answers status with the service's {"error":{"code","pbi.error":{…}}} shape.
func writePBIError(w http.ResponseWriter, status int, code string) {
	pbi := map[string]any{"code": code, "parameters": map[string]any{},
		"details": []any{}, "exceptionCulprit": 1}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "pbi.error": pbi}})
}

// writeTokenExpired answers 403 TokenExpired, the live service's answer to an expired token.
func writeTokenExpired(w http.ResponseWriter) {
	writeError(w, http.StatusForbidden, CodeTokenExpired, tokenExpiredMessage)
}

package httpsrc

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
)

// apiError is the Power BI error body.
type apiError struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Details []detail `json:"details,omitempty"`
}

type detail struct {
	Message string `json:"message"`
	Target  string `json:"target"`
}

// writeError answers status with a Power BI error body.
func writeError(w http.ResponseWriter, status int, code, msg string, details ...detail) {
	body, _ := json.Marshal(apiError{Error: errorBody{Code: code, Message: msg, Details: details}}) // plain structs
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client may be gone; nothing else to do
}

// retryAfter is a Retry-After value: whole seconds, rounded up.
func retryAfter(after time.Duration) string {
	return strconv.Itoa(int(math.Ceil(after.Seconds())))
}

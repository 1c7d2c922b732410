package sink

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pbi-pusher/pbi-pusher/auth"
)

// reply is one HTTP response, its body read (capped) and the connection released.
type reply struct {
	status  int
	header  http.Header
	body    []byte
	readErr error // reading a 2xx body failed
}

// maxRetryAfter caps a Retry-After so absurd values cannot overflow a Duration.
const maxRetryAfter = 24 * time.Hour

// Hints for Fatal errors: what the operator can do.
const (
	hintAuth = "the token was refused twice: check auth settings and that the principal may use " +
		"the Power BI API"
	hintForbidden = "a Power BI admin must enable the tenant setting \"Service principals can use " +
		"Fabric APIs\" (Admin portal > Developer settings) for the service principal's group; the " +
		"principal needs the Contributor role (or higher) on the workspace; My workspace cannot be " +
		"used by a service principal (set powerbi.workspace); and the dataset must be a push dataset"
	hintNotPush = "the dataset is not a push dataset (not created through the push API); " +
		"configure another dataset name or id"
	hintNoWorkspace = "the workspace does not exist or the principal cannot see it: check " +
		"powerbi.workspace (a workspace id, not its name)"
	hintNotFound = "the dataset or table does not exist; run `pbi-pusher schema plan` to compare " +
		"the configuration with the service"
)

// classify is the one place that turns an HTTP outcome into a classified error (nil for 2xx).
// rowsCall selects the POST rows reading of 400/413 (Rejected rows, not a broken request).
func classify(op string, rowsCall bool, r *reply, err error, now time.Time) error {
	if err != nil {
		var ae *auth.Error
		return &Error{Op: op, Class: Retryable, Auth: errors.As(err, &ae), Err: err}
	}
	if r.status >= 200 && r.status < 300 {
		return nil
	}
	code, msg := serviceMessage(r.body)
	e := &Error{Op: op, Status: r.status, Code: code, Message: msg, Class: Fatal}
	switch st := r.status; {
	case st == http.StatusTooManyRequests:
		e.Class = Throttled
		e.RetryAfter = parseRetryAfter(r.header.Get("Retry-After"), now)
	case st == http.StatusRequestTimeout || st >= 500:
		e.Class = Retryable
	case rowsCall && (st == http.StatusBadRequest || st == http.StatusRequestEntityTooLarge):
		e.Class = Rejected
	case tokenRefused(st, code):
		// A fresh token was refused too (send retried once): the dataset is auth-failed; rows
		// keep spooling and the POST is retried with backoff, since credentials can be fixed.
		e.Class, e.Auth, e.Hint = Retryable, true, hintAuth
	case st == http.StatusForbidden:
		e.Hint = hintForbidden
	case st == http.StatusNotFound && strings.EqualFold(code, "PowerBIEntityNotFound"):
		e.Hint = hintNoWorkspace
	case st == http.StatusNotFound && isNotPush(msg):
		e.Hint = hintNotPush
	case st == http.StatusNotFound:
		e.Hint = hintNotFound
	}
	return e
}

// tokenRefused reports whether an answer means "get a new token": 401, or 403 TokenExpired
// (what the live service answers to an expired token, see pbi-api.md §8).
func tokenRefused(status int, code string) bool {
	return status == http.StatusUnauthorized || (status == http.StatusForbidden && strings.EqualFold(code, "TokenExpired"))
}

// parseRetryAfter reads delta-seconds or an HTTP-date; absent, past or garbage → 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) || n > math.MaxInt64/int64(time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), maxRetryAfter)
}

// apiError is the OData error body: {"error":{"code","message","details":[{"message","target"}]}},
// or {"message":...} as seen on some throttling responses.
type apiError struct {
	Error *struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		PBIError *struct {
			Code string `json:"code"`
		} `json:"pbi.error"`
		Details []struct {
			Message string `json:"message"`
			Target  string `json:"target"`
		} `json:"details"`
	} `json:"error"`
	Message string `json:"message"`
}

// maxRawMessage bounds the message taken from a non-JSON error body.
const maxRawMessage = 1024

// serviceMessage extracts the error code and a readable message from an error body.
func serviceMessage(body []byte) (code, msg string) {
	var ae apiError
	if json.Unmarshal(body, &ae) != nil || (ae.Error == nil && ae.Message == "") {
		return "", rawMessage(body)
	}
	if ae.Error == nil {
		return "", ae.Message
	}
	code, msg = ae.Error.Code, ae.Error.Message
	if code == "" && ae.Error.PBIError != nil {
		code = ae.Error.PBIError.Code
	}
	parts := []string{}
	if msg != "" {
		parts = append(parts, msg)
	}
	for _, d := range ae.Error.Details {
		if msg != "" && d.Message == msg { // the detail repeats the message: add only its target
			if d.Target != "" {
				parts[0] += " (" + d.Target + ")"
			}
			continue
		}
		if d.Target != "" {
			parts = append(parts, d.Target+": "+d.Message)
		} else if d.Message != "" {
			parts = append(parts, d.Message)
		}
	}
	if len(parts) == 0 {
		return code, code
	}
	return code, strings.Join(parts, "; ")
}

// rawMessage is a non-JSON body as a short, valid UTF-8 line.
func rawMessage(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > maxRawMessage {
		s = s[:maxRawMessage] + "…"
	}
	return strings.Join(strings.Fields(strings.ToValidUTF8(s, string(utf8.RuneError))), " ")
}

// isNotPush recognises the service's "Dataset X is not Push API dataset." message.
func isNotPush(msg string) bool {
	return strings.Contains(strings.ToLower(msg), "not push api dataset")
}

package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

// apiError is a failed request: status, error code and message (plus details).
type apiError struct {
	status  int
	code    string
	msg     string
	details []errorDetail
	// retryAfter is the Retry-After of a 429, in seconds.
	retryAfter int64
	// unknownProp marks the unknown-property 400, whose target is the body parameter.
	unknownProp bool
	// limit names the Power BI limit the request exceeded (a Limit* constant), if any.
	limit string
	// pbiDetail, when set, adds the service's "pbi.error" object with this detail message.
	pbiDetail string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func (e *apiError) write(w http.ResponseWriter) {
	if e.pbiDetail == "" {
		writeError(w, e.status, e.code, e.msg, e.details...)
		return
	}
	pbi := map[string]any{"code": e.code, "parameters": map[string]any{}, "exceptionCulprit": 1,
		"details": []any{map[string]any{"code": "DetailsMessage", "detail": map[string]any{"type": 1, "value": e.pbiDetail}}}}
	writeJSON(w, e.status, map[string]any{"error": map[string]any{"code": e.code, "message": e.msg,
		"details": e.details, "pbi.error": pbi}})
}

// badRequest is a 400 BadRequest whose detail names the offending target, the shape the
// service uses for schema problems.
func badRequest(target, format string, args ...any) *apiError {
	msg := fmt.Sprintf(format, args...)
	return &apiError{status: http.StatusBadRequest, code: CodeBadRequest, msg: msg,
		details: []errorDetail{{Message: msg, Target: target}}}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusNotFound, code: CodeNotFound, msg: fmt.Sprintf(format, args...)}
}

// object decodes raw as a JSON object whose property names must be in allowed (exact case,
// like the service: 'datatype' is not 'dataType').
func object(raw json.RawMessage, typ string, allowed ...string) (map[string]json.RawMessage, *apiError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, badRequest(typ, "A JSON object was expected for type '%s'.", typ)
	}
	for k := range m {
		if !slices.Contains(allowed, k) {
			return nil, unknownProperty(k, typ)
		}
	}
	return m, nil
}

// unknownProperty is the captured live 400 for a property the type does not define: top-level
// message "Bad Request", the detail naming property and type, its target the body parameter
// (set by the handler with inBody).
func unknownProperty(prop, typ string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeBadRequest, msg: "Bad Request", unknownProp: true,
		details: []errorDetail{{Message: fmt.Sprintf("The property '%s' does not exist on type '%s'. "+
			"Make sure to only use property names that are defined by the type.", prop, typ)}}}
}

// inBody sets the target of an unknown-property error to the operation's body parameter
// name (dataset, requestMessage, …), as the service does.
func (e *apiError) inBody(param string) *apiError {
	if e != nil && e.unknownProp {
		e.details[0].Target = param
	}
	return e
}

// field decodes m[key] into dst; required reports a missing key as an error.
func field(m map[string]json.RawMessage, typ, key string, required bool, dst any) *apiError {
	raw, ok := m[key]
	if !ok || string(raw) == "null" {
		if required {
			return badRequest(typ, "The property '%s' is required on type '%s'.", key, typ)
		}
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return badRequest(typ, "The property '%s' on type '%s' has an invalid value.", key, typ)
	}
	return nil
}

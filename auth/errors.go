package auth

import (
	"errors"
	"regexp"
	"strings"
)

// Error is a token acquisition failure. Its text names the method and an actionable hint and
// never contains a configured secret; Unwrap gives the MSAL error (errors.As to CallErr works).
type Error struct {
	Method string
	Hint   string
	msg    string
	cause  error
}

func (e *Error) Error() string {
	s := "auth " + e.Method + ": " + e.msg
	if e.Hint != "" {
		s += " (hint: " + e.Hint + ")"
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.cause }

// aadsts finds an Entra ID error code in an error text.
var aadsts = regexp.MustCompile(`AADSTS[0-9]+`)

// AADSTS returns the Entra ID error code (e.g. AADSTS7000215) in the error, or "".
func (e *Error) AADSTS() string { return aadsts.FindString(e.msg) }

// permanentCodes are Entra ID answers that cannot heal by themselves: a person must change the
// configuration or the app registration (a wrong or expired secret, an unknown app or tenant).
var permanentCodes = map[string]bool{
	"AADSTS7000215": true, // invalid client secret
	"AADSTS7000222": true, // expired client secret
	"AADSTS700016":  true, // unknown application in the tenant
	"AADSTS90002":   true, // unknown tenant
	"AADSTS700027":  true, // certificate not registered
	"AADSTS50126":   true, // wrong username or password
	"AADSTS65001":   true, // no consent
	"AADSTS1002012": true, // malformed scope
}

// Permanent reports whether the failure cannot heal by itself (invalid_client, an expired secret,
// an unknown tenant...), as opposed to an unreachable or failing authority, which retries cure.
func (e *Error) Permanent() bool {
	return permanentCodes[e.AADSTS()] || strings.Contains(e.msg, "invalid_client")
}

// hints maps error text fragments (AADSTS codes, Go errors) to advice, first match wins.
var hints = []struct{ fragment, hint string }{
	{"AADSTS7000215", "auth.client_secret is wrong or expired; use the secret's value, not its ID"},
	{"AADSTS7000222", "auth.client_secret has expired; create a new one on the app registration"},
	{"AADSTS700016", "auth.client_id is not an app in auth.tenant; check both"},
	{"AADSTS90002", "auth.tenant was not found; use the directory (tenant) ID or a verified domain"},
	{"AADSTS700027", "the certificate in auth.certificate is not registered on the app registration"},
	{"AADSTS70021", "no federated identity credential on the app matches the token's issuer and subject; check the app's federated credentials and AZURE_FEDERATED_TOKEN_FILE"},
	{"AADSTS700024", "the federated token has expired; check that the token file is being rotated"},
	{"AADSTS50126", "auth.username or auth.password is wrong"},
	{"AADSTS50076", "the account requires MFA, which username_password cannot do; use device_code"},
	{"AADSTS50079", "the account requires MFA enrolment; use device_code"},
	{"AADSTS1002012", "auth.scope must be a resource followed by /.default for app-only methods"},
	{"AADSTS65001", "the app lacks consent for the Power BI API; grant admin consent"},
	{"x509:", "the authority's TLS certificate is not trusted; set powerbi.ca_file to your proxy's CA bundle"},
	{"unable to resolve an endpoint", "the authority is unreachable or unknown; check auth.authority_url, the proxy (HTTPS_PROXY) and the network"},
	{"no such host", "the authority host does not resolve; check auth.authority_url, DNS and the proxy"},
	{"connection refused", "nothing listens at the authority or managed identity endpoint"},
}

// wrapMSAL wraps err with method and hint, redacting secrets from its text.
func wrapMSAL(method string, err error, secrets []string) error {
	msg := redact(err.Error(), secrets)
	var hint string
	for _, h := range hints {
		if strings.Contains(msg, h.fragment) {
			hint = h.hint
			break
		}
	}
	var prev *Error
	if errors.As(err, &prev) {
		return err
	}
	return &Error{Method: method, Hint: hint, msg: msg, cause: err}
}

// redact replaces every non-trivial secret in s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

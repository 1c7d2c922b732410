package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestWrapMSALRedactsAndHints(t *testing.T) {
	base := errors.New("reply 401: AADSTS7000215: Invalid client secret provided. body had client_secret=hunter2-secret")
	tests := []struct {
		name    string
		err     error
		secrets []string
		absent  string
		hint    string
	}{
		{"secret redacted", base, []string{"hunter2-secret"}, "hunter2-secret", "auth.client_secret is wrong"},
		{"wrapped error keeps hint", fmt.Errorf("msal: %w", base), []string{"hunter2-secret", ""}, "hunter2-secret", "auth.client_secret is wrong"},
		{"tls", errors.New("tls: x509: certificate signed by unknown authority"), nil, "", "powerbi.ca_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := wrapMSAL("client_secret", tc.err, tc.secrets)
			msg := err.Error()
			if tc.absent != "" && strings.Contains(msg, tc.absent) {
				t.Errorf("secret in %q", msg)
			}
			if !strings.Contains(msg, tc.hint) || !strings.HasPrefix(msg, "auth client_secret: ") || !errors.Is(err, tc.err) {
				t.Errorf("err = %q: want method prefix, hint %q and Unwrap to the cause", msg, tc.hint)
			}
		})
	}
}

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

func TestErrorPermanence(t *testing.T) {
	tests := []struct {
		cause     string
		code      string
		permanent bool
	}{
		{"AADSTS7000215: Invalid client secret provided.", "AADSTS7000215", true},
		{"AADSTS7000222: The provided client secret keys are expired.", "AADSTS7000222", true},
		{"AADSTS90002: Tenant 'x' not found.", "AADSTS90002", true},
		{`{"error":"invalid_client","error_description":"bad"}`, "", true},
		{"AADSTS50058: A silent sign-in request was sent but no user is signed in.", "AADSTS50058", false},
		{"dial tcp 127.0.0.1:1: connect: connection refused", "", false},
	}
	for _, tc := range tests {
		var e *Error
		if !errors.As(wrapMSAL("client_secret", errors.New(tc.cause), nil), &e) {
			t.Fatalf("wrapMSAL(%q) is no *Error", tc.cause)
		}
		if e.AADSTS() != tc.code || e.Permanent() != tc.permanent {
			t.Errorf("%q: AADSTS %q permanent %v, want %q %v", tc.cause, e.AADSTS(), e.Permanent(), tc.code, tc.permanent)
		}
	}
}

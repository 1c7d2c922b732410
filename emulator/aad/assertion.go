package aad

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // x5t is defined as a SHA-1 thumbprint
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// checkAssertion verifies a certificate client assertion (a JWT whose header names a certificate
// thumbprint) against Options.Certs, else asks Options.FederatedToken.
func (s *Server) checkAssertion(clientID, assertion, audience string) (oauthError, bool) {
	if hasThumbprint(assertion) {
		s.count(func(st *Stats) { st.ClientCert++ })
		if err := s.verifyCertAssertion(clientID, assertion, audience); err != nil {
			s.log.Debug("aad certificate assertion rejected", "client_id", clientID, "reason", err.Error())
			return errBadAssertion, false
		}
		return oauthError{}, true
	}
	s.count(func(st *Stats) { st.Federated++ })
	if s.opts.FederatedToken == nil || !s.opts.FederatedToken(clientID, assertion) {
		return errNoFederation, false
	}
	return oauthError{}, true
}

// hasThumbprint reports whether the unverified JWT header carries x5t#S256 or x5t.
func hasThumbprint(assertion string) bool {
	tok, _, err := jwt.NewParser().ParseUnverified(assertion, jwt.MapClaims{})
	if err != nil {
		return false
	}
	_, s256 := tok.Header["x5t#S256"]
	_, s1 := tok.Header["x5t"]
	return s256 || s1
}

// verifyCertAssertion checks signature (PS256/RS256 by a registered certificate), aud, iss, sub and exp.
func (s *Server) verifyCertAssertion(clientID, assertion, audience string) error {
	certs := s.opts.Certs[clientID]
	if len(certs) == 0 {
		return errors.New("no certificate registered for client")
	}
	keyFunc := func(t *jwt.Token) (any, error) { return findCert(certs, t.Header) }
	_, err := jwt.Parse(assertion, keyFunc,
		jwt.WithValidMethods([]string{"PS256", "RS256"}),
		jwt.WithAudience(audience), jwt.WithIssuer(clientID), jwt.WithSubject(clientID),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.opts.Now))
	if err != nil {
		return fmt.Errorf("verify assertion: %w", err)
	}
	return nil
}

// findCert returns the public key of the certificate the header's thumbprint names.
func findCert(certs []*x509.Certificate, header map[string]any) (any, error) {
	s256 := decodeThumbprint(header["x5t#S256"])
	s1 := decodeThumbprint(header["x5t"])
	for _, c := range certs {
		h256 := sha256.Sum256(c.Raw)
		h1 := sha1.Sum(c.Raw) //nolint:gosec // thumbprint, not a security boundary
		if bytes.Equal(s256, h256[:]) || bytes.Equal(s1, h1[:]) {
			return c.PublicKey, nil
		}
	}
	return nil, errors.New("thumbprint matches no registered certificate")
}

// decodeThumbprint decodes a header thumbprint: MSAL uses standard base64, RFC 7515 base64url.
func decodeThumbprint(v any) []byte {
	s, _ := v.(string)
	s = strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && s != "" {
			return b
		}
	}
	return nil
}

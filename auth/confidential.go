package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// confidential builds the fetcher of client_secret, client_certificate and workload_identity.
func (b *builder) confidential() (fetcher, error) {
	if err := require("auth.tenant", b.a.Tenant, "auth.client_id", b.a.ClientID); err != nil {
		return nil, err
	}
	cred, extra, err := b.credential()
	if err != nil {
		return nil, err
	}
	opts := append([]confidential.Option{
		confidential.WithHTTPClient(b.http), confidential.WithInstanceDiscovery(b.ep.discovery),
	}, extra...)
	app, err := confidential.New(b.ep.authority, b.a.ClientID, cred, opts...)
	if err != nil {
		return nil, fmt.Errorf("create MSAL client: %w", err)
	}
	scopes := []string{b.ep.scope}
	return func(ctx context.Context, fresh bool) (string, time.Time, error) {
		var o []confidential.AcquireByCredentialOption
		if fresh {
			o = append(o, confidential.WithClaims(freshClaims()))
		}
		ar, err := app.AcquireTokenByCredential(ctx, scopes, o...)
		return ar.AccessToken, ar.ExpiresOn, err
	}, nil
}

// credential returns the MSAL credential of the method and any client options it needs.
func (b *builder) credential() (confidential.Credential, []confidential.Option, error) {
	switch b.method {
	case MethodClientSecret:
		if err := require("auth.client_secret", b.a.ClientSecret); err != nil {
			return confidential.Credential{}, nil, err
		}
		c, err := confidential.NewCredFromSecret(b.a.ClientSecret)
		return c, nil, err
	case MethodClientCert:
		if err := require("auth.certificate", b.a.Certificate); err != nil {
			return confidential.Credential{}, nil, err
		}
		c, err := certCredential(b.a.Certificate, b.a.CertificatePassword)
		// x5c lets Entra ID match the certificate by subject name and issuer (rotation friendly).
		return c, []confidential.Option{confidential.WithX5C()}, err
	default: // MethodWorkloadIdentity
		if err := require("auth.federated_token_file (or AZURE_FEDERATED_TOKEN_FILE)", b.a.FederatedTokenFile); err != nil {
			return confidential.Credential{}, nil, err
		}
		return confidential.NewCredFromAssertionCallback(assertionFromFile(b.a.FederatedTokenFile)), nil, nil
	}
}

// assertionFromFile reads the federated token on every token request: the kubelet rotates it.
func assertionFromFile(path string) func(context.Context, confidential.AssertionRequestOptions) (string, error) {
	return func(context.Context, confidential.AssertionRequestOptions) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read federated token file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", errors.New("federated token file " + path + " is empty")
		}
		return tok, nil
	}
}

// freshClaims is a claims request (the shape of a token-revocation challenge) asking for a token
// issued from now on; MSAL skips its cache when claims are given.
func freshClaims() string {
	return fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, time.Now().Unix())
}

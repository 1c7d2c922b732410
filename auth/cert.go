package auth

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// errPFX explains why a PKCS#12 file is refused.
var errPFX = errors.New("is a PFX/PKCS#12 file, which this build cannot read; convert it to PEM with " +
	"`openssl pkcs12 -in cert.pfx -out cert.pem -nodes` and protect the file")

// certCredential loads a PEM file holding the certificate(s) and the RSA private key (PKCS#1 or
// PKCS#8, optionally encrypted with password).
func certCredential(path, password string) (confidential.Credential, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("auth.certificate: %w", err)
	}
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		return confidential.Credential{}, fmt.Errorf("auth.certificate %s %w", path, errPFX)
	}
	certs, key, err := confidential.CertFromPEM(data, password)
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("auth.certificate %s: %w", path, err)
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("auth.certificate %s (MSAL needs an RSA key): %w", path, err)
	}
	return cred, nil
}

package auth

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"golang.org/x/crypto/pkcs12"
)

// certCredential loads auth.certificate: a PEM file holding the certificate(s) and the RSA private
// key (PKCS#1 or PKCS#8, optionally encrypted with password), or a PFX/PKCS#12 file.
func certCredential(path, password string) (confidential.Credential, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("auth.certificate: %w", err)
	}
	var (
		certs []*x509.Certificate
		key   crypto.PrivateKey
	)
	if bytes.Contains(data, []byte("-----BEGIN")) {
		certs, key, err = confidential.CertFromPEM(data, password)
	} else {
		certs, key, err = fromPFX(data, password)
	}
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("auth.certificate %s: %w", path, err)
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("auth.certificate %s (MSAL needs an RSA key): %w", path, err)
	}
	return cred, nil
}

// fromPFX decodes a PKCS#12 file, keeping its certificate chain. golang.org/x/crypto/pkcs12 reads
// the classic encryption (3DES/RC2 with SHA-1 MACs: what Windows and `openssl pkcs12 -export
// -legacy` write); for an AES-encrypted PFX (the OpenSSL 3 default) the error says how to convert.
func fromPFX(data []byte, password string) ([]*x509.Certificate, crypto.PrivateKey, error) {
	blocks, err := pkcs12.ToPEM(data, password)
	if err != nil {
		return nil, nil, fmt.Errorf("read PFX (if it is AES-encrypted, convert it: "+
			"`openssl pkcs12 -in cert.pfx -out cert.pem -nodes`, then protect the file): %w", err)
	}
	var (
		certs []*x509.Certificate
		key   crypto.PrivateKey
	)
	for _, b := range blocks {
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("PFX certificate: %w", err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY": // pkcs12.ToPEM encodes RSA keys as PKCS#1 under this type
			if key, err = x509.ParsePKCS1PrivateKey(b.Bytes); err != nil {
				return nil, nil, fmt.Errorf("PFX private key (MSAL needs an RSA key): %w", err)
			}
		}
	}
	if len(certs) == 0 || key == nil {
		return nil, nil, fmt.Errorf("PFX holds %d certificates and %s private key: both are needed", len(certs), map[bool]string{true: "a", false: "no"}[key != nil])
	}
	return certs, key, nil
}

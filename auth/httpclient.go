package auth

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// DefaultRequestTimeout bounds one HTTP request when powerbi.request_timeout is 0.
const DefaultRequestTimeout = 60 * time.Second

// HTTPClient returns the client pbi-pusher uses for the authority and the Power BI API: a
// keep-alive transport, the proxy from the environment (HTTPS_PROXY, NO_PROXY), the system roots
// plus powerbi.ca_file, and powerbi.request_timeout per request.
func HTTPClient(cfg *config.Config) (*http.Client, error) {
	roots, err := rootCAs(cfg.PowerBI.CAFile)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 16
	timeout := time.Duration(cfg.PowerBI.RequestTimeout)
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// rootCAs returns nil (system roots) without caFile, else the system roots plus caFile.
func rootCAs(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("powerbi.ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("powerbi.ca_file %s: no PEM certificate found", caFile)
	}
	return pool, nil
}

package kafkasrc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// Dialer builds the kafka-go dialer for cfg: TLS from cfg.TLS (nil = plaintext) and SASL
// from cfg.SASL (nil = none).
func Dialer(cfg config.Source) (*kafka.Dialer, error) {
	tc, err := tlsConfig(cfg.TLS)
	if err != nil {
		return nil, err
	}
	mech, err := saslMechanism(cfg.SASL)
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{
		ClientID:      "pbi-pusher",
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           tc,
		SASLMechanism: mech,
	}, nil
}

func tlsConfig(c *config.TLS) (*tls.Config, error) {
	if c == nil {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // opt-in
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls ca_file %s: no PEM certificates", c.CAFile)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("kafka tls: cert_file and key_file must be set together")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func saslMechanism(c *config.SASL) (sasl.Mechanism, error) {
	if c == nil {
		return nil, nil
	}
	switch strings.ToUpper(c.Mechanism) {
	case "PLAIN", "":
		return plain.Mechanism{Username: c.Username, Password: c.Password}, nil
	case "SCRAM-SHA-256":
		return scramMechanism(scram.SHA256, c)
	case "SCRAM-SHA-512":
		return scramMechanism(scram.SHA512, c)
	default:
		return nil, fmt.Errorf("kafka sasl: unknown mechanism %q (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", c.Mechanism)
	}
}

func scramMechanism(algo scram.Algorithm, c *config.SASL) (sasl.Mechanism, error) {
	m, err := scram.Mechanism(algo, c.Username, c.Password)
	if err != nil {
		return nil, fmt.Errorf("kafka sasl %s: %w", algo.Name(), err)
	}
	return m, nil
}

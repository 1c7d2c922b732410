package kafkasrc

import (
	"crypto/tls"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// TLSConfig builds a client TLS configuration from a tls block (CA bundle, client certificate,
// insecure_skip_verify); nil gives nil. Other Kafka clients of pbi-pusher (the Eventstream
// destination) share it.
func TLSConfig(c *config.TLS) (*tls.Config, error) { return tlsConfig(c) }

package kafkasrc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/segmentio/kafka-go"
)

func (s *Source) logJoinError(err error) {
	if errors.Is(err, kafka.RebalanceInProgress) {
		s.log.Debug("kafka group rebalancing; rejoining", "err", err)
		return
	}
	s.log.Warn("kafka group join failed; retrying", "err", err)
}

// permanent reports join errors that retrying cannot fix: rejected credentials, an untrusted
// broker certificate, or missing authorization.
func permanent(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	for _, code := range []kafka.Error{
		kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism, kafka.IllegalSASLState,
		kafka.GroupAuthorizationFailed, kafka.TopicAuthorizationFailed,
	} {
		if errors.Is(err, code) {
			return true
		}
	}
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &verify)
}

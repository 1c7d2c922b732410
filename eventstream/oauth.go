package eventstream

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go/sasl"
)

// TokenSource yields Entra ID access tokens (auth.Source satisfies it).
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// oauthBearer is the SASL OAUTHBEARER mechanism (RFC 7628) with a token for Event Hubs. Each new
// connection asks the source for a token (cached and refreshed there).
type oauthBearer struct{ tokens TokenSource }

func (oauthBearer) Name() string { return "OAUTHBEARER" }

func (m oauthBearer) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	tok, err := m.tokens.Token(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("entra id token for OAUTHBEARER: %w", err)
	}
	// gs2 header "n,," then kvsep-separated auth=Bearer <token>, ended by two kvseps.
	return m, []byte("n,,\x01auth=Bearer " + tok + "\x01\x01"), nil
}

// Next handles the server's answer: empty means success; anything else is an error report
// (RFC 7628 §3.2.2), to which the client replies with a single kvsep and then fails.
func (oauthBearer) Next(_ context.Context, challenge []byte) (bool, []byte, error) {
	if len(challenge) == 0 {
		return true, nil, nil
	}
	return false, nil, errors.New("OAUTHBEARER rejected: " + clipString(string(challenge), 200))
}

func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

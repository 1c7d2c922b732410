package eventstream

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
)

type staticTokens struct {
	tok string
	err error
}

func (s staticTokens) Token(context.Context) (string, error) { return s.tok, s.err }

// OAUTHBEARER's initial response is RFC 7628's: gs2 header, auth=Bearer <token>, two kvseps; a
// server error report fails the exchange with the server's text; a token failure never connects.
func TestOAuthBearer(t *testing.T) {
	m := oauthBearer{tokens: staticTokens{tok: "eyJ0eXAi.payload.sig"}}
	if m.Name() != "OAUTHBEARER" {
		t.Fatalf("name %q", m.Name())
	}
	sm, ir, err := m.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := "n,,\x01auth=Bearer eyJ0eXAi.payload.sig\x01\x01"; string(ir) != want {
		t.Errorf("initial response %q, want %q", ir, want)
	}
	if done, resp, err := sm.Next(context.Background(), nil); !done || resp != nil || err != nil {
		t.Errorf("empty challenge: done %v resp %q err %v, want success", done, resp, err)
	}
	if _, _, err := sm.Next(context.Background(), []byte(`{"status":"invalid_token"}`)); err == nil ||
		!strings.Contains(err.Error(), "invalid_token") {
		t.Errorf("error report: %v, want the server's status", err)
	}
	bad := oauthBearer{tokens: staticTokens{err: errors.New("AADSTS7000215: invalid client secret")}}
	if _, _, err := bad.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("token failure: %v", err)
	}
}

// A Sender without a connection string authenticates with OAUTHBEARER from its token source.
func TestNewWithEntraID(t *testing.T) {
	s, err := New(Options{Config: configWith("es.servicebus.windows.net:9093", "orders"), Tokens: staticTokens{tok: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.sasl.Name() != "OAUTHBEARER" || !strings.Contains(s.mech, "OAUTHBEARER") {
		t.Errorf("mechanism %q (%s)", s.sasl.Name(), s.mech)
	}
	if _, err := New(Options{Config: configWith("es.servicebus.windows.net:9093", "orders")}); err == nil {
		t.Error("New without a connection string or a token source succeeded")
	}
}

func configWith(bootstrap, topic string) config.Eventstream {
	return config.Eventstream{Name: "es", Bootstrap: bootstrap, Topic: topic}
}

package kafkasrc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
)

func TestNewValidates(t *testing.T) {
	w := newRecorder(newLedger(), nil)
	cp := metaMap{}
	_, err := New(config.Source{Start: "middle"}, Options{})
	if err == nil {
		t.Fatal("empty config accepted")
	}
	for _, want := range []string{"brokers", "topic", "group", "start", "Writer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	cfg := config.Source{Brokers: []string{"b:9092"}, Topics: []string{"x", "y"}, Group: "g", Start: "Latest"}
	s, err := New(cfg, Options{Writer: w, Checkpoints: cp})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if strings.Join(s.topics, ",") != "x,y" || s.opts.BatchSize != 500 || s.opts.MaxWait <= 0 {
		t.Errorf("topics %v opts %+v", s.topics, s.opts)
	}
}

func TestDialerConfig(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a cert"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := []config.Source{
		{SASL: &config.SASL{Mechanism: "GSSAPI"}},
		{TLS: &config.TLS{CAFile: filepath.Join(dir, "missing.pem")}},
		{TLS: &config.TLS{CAFile: notPEM}},
		{TLS: &config.TLS{CertFile: "c.pem"}},
		{TLS: &config.TLS{CertFile: notPEM, KeyFile: notPEM}},
	}
	for i, cfg := range bad {
		if _, err := Dialer(cfg); err == nil {
			t.Errorf("case %d: accepted", i)
		}
	}
	for _, mech := range []string{"PLAIN", "plain", "SCRAM-SHA-256", "scram-sha-512"} {
		d, err := Dialer(config.Source{TLS: &config.TLS{}, SASL: &config.SASL{Mechanism: mech, Username: "u", Password: "p"}})
		if err != nil || d.SASLMechanism == nil || d.TLS == nil {
			t.Errorf("%s: %v %+v", mech, err, d)
		}
	}
	d, err := Dialer(config.Source{})
	if err != nil || d.TLS != nil || d.SASLMechanism != nil {
		t.Errorf("plaintext dialer: %v %+v", err, d)
	}
}

package kafkasrc

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
)

// TestSASLOverTLS: the source consumes from a broker that requires TLS and SASL (the Event
// Hubs / Confluent Cloud shape), with the dialer built from the config keys; the same broker
// refuses plaintext and wrong passwords, so the test would notice if TLS or SASL were skipped.
func TestSASLOverTLS(t *testing.T) {
	serverTLS, caFile := selfSigned(t)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			const n = 600
			topic, group := "secure", "g-secure"
			c := newCluster(t, topic, kfake.TLS(serverTLS), kfake.EnableSASL(), kfake.Superuser(mech, "$ConnectionString", "s3cret"))
			cfg := sourceConfig(c.ListenAddrs(), topic, group)
			cfg.TLS = &config.TLS{CAFile: caFile}
			cfg.SASL = &config.SASL{Mechanism: mech, Username: "$ConnectionString", Password: "s3cret"}
			d, err := Dialer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			produce(t, &kafka.Transport{TLS: d.TLS, SASL: d.SASLMechanism}, c.ListenAddrs(), topic, 0, n)
			checkRefused(t, c.ListenAddrs()[0], cfg)

			led := newLedger()
			e := newEnv(t)
			r := start(t, cfg, testOptions(t, newRecorder(led, e.w), e))
			await(t, led.reached(n), 30*time.Second, "records over SASL+TLS")
			awaitCommitted(t, c, group, topic)
			r.stop(t)
			led.check(t, n)
			checkSpooled(t, n, e)
			checkFatal(t, cfg)
		})
	}
}

// checkFatal: wrong credentials or an untrusted certificate end Run with an error instead of
// retrying forever.
func checkFatal(t *testing.T, cfg config.Source) {
	t.Helper()
	wrong := cfg
	wrong.SASL = &config.SASL{Mechanism: cfg.SASL.Mechanism, Username: cfg.SASL.Username, Password: "wrong"}
	untrusted := cfg
	untrusted.TLS = &config.TLS{}
	for name, c := range map[string]config.Source{"wrong password": wrong, "untrusted certificate": untrusted} {
		src, err := New(c, testOptions(t, newRecorder(newLedger(), nil), metaMap{}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = src.Run(ctx)
		cancel()
		if err == nil {
			t.Errorf("%s: Run returned nil, want a permanent error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func checkRefused(t *testing.T, broker string, cfg config.Source) {
	t.Helper()
	plain := cfg
	plain.TLS = nil
	wrong := cfg
	wrong.SASL = &config.SASL{Mechanism: cfg.SASL.Mechanism, Username: cfg.SASL.Username, Password: "wrong"}
	for name, c := range map[string]config.Source{"plaintext": plain, "wrong password": wrong} {
		d, err := Dialer(c)
		if err != nil {
			t.Fatal(err)
		}
		if probe(d, broker) == nil {
			t.Errorf("%s connection accepted by a SASL+TLS broker", name)
		}
	}
	d, _ := Dialer(cfg)
	if err := probe(d, broker); err != nil {
		t.Fatalf("good credentials refused: %v", err)
	}
}

func probe(d *kafka.Dialer, broker string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", broker)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	_, err = conn.ReadPartitions()
	return err
}

// selfSigned returns a server TLS config for 127.0.0.1 and the path of its CA PEM file.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	cert, err := aad.WriteSelfSigned(caFile, filepath.Join(dir, "key.pem"), []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, caFile
}

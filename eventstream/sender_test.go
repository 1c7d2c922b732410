package eventstream_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
	"github.com/pbi-pusher/pbi-pusher/eventstream"
)

const topic = "es_orders"

// broker is kfake configured like an Event Hubs Kafka endpoint: TLS, SASL PLAIN with the user
// $ConnectionString and the connection string as password.
type broker struct {
	c       *kfake.Cluster
	addr    string
	connStr string
	clientT *tls.Config
}

func newBroker(t *testing.T, opts ...kfake.Opt) *broker {
	t.Helper()
	dir := t.TempDir()
	cert, err := aad.WriteSelfSigned(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	connStr := "Endpoint=sb://localhost/;SharedAccessKeyName=key_1;SharedAccessKey=s3cretKEYvalue0123456789=;EntityPath=" + topic
	base := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(3, topic),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", eventstream.ConnectionStringUser, connStr),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
	}
	c, err := kfake.NewCluster(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &broker{c: c, addr: c.ListenAddrs()[0], connStr: connStr,
		clientT: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
}

func (b *broker) sender(t *testing.T, mod func(*config.Eventstream)) *eventstream.Sender {
	t.Helper()
	c := config.Eventstream{Name: "orders", ConnectionString: b.connStr, Bootstrap: b.addr, MaxRequestBytes: 64 << 10}
	if mod != nil {
		mod(&c)
	}
	cfg := config.Config{Eventstreams: []config.Eventstream{c}}
	cfg.ApplyDefaults()
	s, err := eventstream.New(eventstream.Options{Config: cfg.Eventstreams[0], TLS: b.clientT})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// records reads every record of the topic (all partitions) through an authenticated client.
func (b *broker) records(t *testing.T) []kafka.Message {
	t.Helper()
	d := &kafka.Dialer{Timeout: 5 * time.Second, TLS: b.clientT, SASLMechanism: plainMech(b.connStr)}
	conn, err := d.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for _, p := range parts {
		pc, err := d.DialLeader(context.Background(), "tcp", b.addr, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := pc.ReadLastOffset()
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < last; {
			_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = pc.Seek(off, kafka.SeekAbsolute)
			batch := pc.ReadBatch(1, 16<<20)
			for {
				m, err := batch.ReadMessage()
				if err != nil {
					break
				}
				out = append(out, m)
				off = m.Offset + 1
			}
			if err := batch.Close(); err != nil {
				t.Fatalf("partition %d: %v", p.ID, err)
			}
		}
		pc.Close()
	}
	return out
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func rows(n, from int) []eventstream.Message {
	out := make([]eventstream.Message, n)
	for i := range out {
		id := from + i
		out[i] = eventstream.Message{Data: fmt.Appendf(nil, `{"id":%d,"region":"r%d","amount":%d.5}`, id, id%4, id),
			Position: fmt.Sprintf("orders.jsonl:%d", id+1)}
	}
	return out
}

func TestSendDeliversOneJSONObjectPerRowWithHeaders(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	s := b.sender(t, func(c *config.Eventstream) { c.KeyColumn = "region" })
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	// 2,000 rows of ~50 bytes in 64 KiB requests: several requests per partition.
	if err := s.Send(ctx, "Orders", rows(2000, 0)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := b.records(t)
	if len(got) != 2000 {
		t.Fatalf("records = %d, want 2000", len(got))
	}
	seen := map[int]bool{}
	keyPart := map[string]int{}
	for _, m := range got {
		var row struct {
			ID     int    `json:"id"`
			Region string `json:"region"`
		}
		if err := json.Unmarshal(m.Value, &row); err != nil {
			t.Fatalf("value %q: %v", m.Value, err)
		}
		if seen[row.ID] {
			t.Fatalf("row %d twice", row.ID)
		}
		seen[row.ID] = true
		if header(m, "table") != "Orders" || header(m, "position") != fmt.Sprintf("orders.jsonl:%d", row.ID+1) {
			t.Fatalf("headers %v of row %d", m.Headers, row.ID)
		}
		if string(m.Key) != row.Region {
			t.Fatalf("key %q, want %q", m.Key, row.Region)
		}
		if p, ok := keyPart[row.Region]; ok && p != m.Partition {
			t.Fatalf("key %s in partitions %d and %d", row.Region, p, m.Partition)
		}
		keyPart[row.Region] = m.Partition
	}
}

func TestWrongConnectionStringIsAClearFatalErrorWithoutTheSecret(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	wrong := strings.Replace(b.connStr, "s3cretKEYvalue", "WRONGkeyVALUE", 1)
	s := b.sender(t, func(c *config.Eventstream) { c.ConnectionString = wrong })
	ctx := context.Background()
	err := s.Check(ctx)
	if err == nil {
		t.Fatal("Check accepted a wrong connection string")
	}
	msg := err.Error()
	for _, want := range []string{b.addr, "SASL PLAIN", "authentication failed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	for _, secret := range []string{wrong, "WRONGkeyVALUE", "SharedAccessKey="} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q contains the secret", msg)
		}
	}
	t.Logf("error: %v", err)
	if c := eventstream.Classify(err); c != eventstream.Fatal {
		t.Errorf("class %v, want fatal", c)
	}
	// Sending fails too, and never as "delivered".
	if err := s.Send(ctx, "Orders", rows(3, 0)); err == nil {
		t.Fatal("Send with a wrong connection string succeeded")
	} else if strings.Contains(err.Error(), "WRONGkeyVALUE") {
		t.Errorf("send error contains the secret: %v", err)
	} else if c := eventstream.Classify(err); c != eventstream.Fatal {
		t.Errorf("send error %v: class %v, want fatal", err, c)
	}
}

func TestMessageOverTheRequestLimitIsRejectedWithTheBrokersAnswer(t *testing.T) {
	t.Parallel()
	// The broker's limit: 64 KiB per record batch (Event Hubs: 1 MB per request).
	b := newBroker(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "65536"}))
	s := b.sender(t, nil)
	msgs := rows(10, 0)
	huge := fmt.Appendf(nil, `{"id":999,"blob":"%s"}`, strings.Repeat("x", 100<<10))
	msgs[4] = eventstream.Message{Data: huge, Position: "orders.jsonl:5"}
	err := s.Send(context.Background(), "Orders", msgs)
	var e *eventstream.Error
	if !errors.As(err, &e) {
		t.Fatalf("Send = %v, want *eventstream.Error", err)
	}
	if len(e.Rows) != len(msgs) {
		t.Fatalf("per-row errors %d, want %d (err %v)", len(e.Rows), len(msgs), err)
	}
	for i, re := range e.Rows {
		if i == 4 {
			if eventstream.Classify(re) != eventstream.Rejected || !strings.Contains(re.Error(), "Message Size Too Large") {
				t.Errorf("row 4: %v (class %v), want the broker's MESSAGE_TOO_LARGE", re, eventstream.Classify(re))
			}
			continue
		}
		if re != nil {
			t.Errorf("row %d: %v, want delivered", i, re)
		}
	}
	if got := len(b.records(t)); got != 9 {
		t.Errorf("records = %d, want the 9 others", got)
	}
}

func TestThrottlingIsClassifiedThrottled(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	s := b.sender(t, nil)
	b.c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.ThrottlingQuotaExceeded, Count: -1})
	start := time.Now()
	err := s.Send(context.Background(), "Orders", rows(5, 0))
	t.Logf("throttled send took %v", time.Since(start))
	if c := eventstream.Classify(err); c != eventstream.Throttled {
		t.Fatalf("class %v (%v), want throttled", c, err)
	}
}

func TestUnreachableEndpointIsRetryable(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	s := b.sender(t, func(c *config.Eventstream) { c.Bootstrap = "127.0.0.1:1" })
	err := s.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("Check = %v, want an error naming 127.0.0.1:1", err)
	}
	if c := eventstream.Classify(err); c != eventstream.Retryable {
		t.Errorf("class %v, want retryable", c)
	}
}

func plainMech(connStr string) plainSASL { return plainSASL{connStr} }

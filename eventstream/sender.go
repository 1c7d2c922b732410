package eventstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest/kafkasrc"
)

// ConnectionStringUser is the SASL PLAIN user name of Event Hubs' Kafka endpoint when the
// password is a connection string.
const ConnectionStringUser = "$ConnectionString"

// Header keys set on every message.
const (
	HeaderTable    = "table"
	HeaderPosition = "position"
)

// requestOverhead is kept free in every produce request for the request, topic and record-batch
// framing that kafka-go's message sizes do not count.
const requestOverhead = 16 << 10

// Options configure New.
type Options struct {
	Config config.Eventstream // defaults applied (config.Load does it)
	// Tokens yields Entra ID tokens for OAUTHBEARER; required when Config has no
	// connection_string.
	Tokens TokenSource
	Logger *slog.Logger // nil = discard
	// TLS overrides the TLS configuration built from Config.TLS (tests).
	TLS *tls.Config
}

// Message is one row to send.
type Message struct {
	Data     []byte // the row's JSON object, as spooled
	Position string // the row's source position ("" when unknown)
}

// Sender writes rows of one eventstreams entry.
type Sender struct {
	name      string
	cfg       config.Eventstream
	log       *slog.Logger
	mech      string // SASL mechanism and user, for messages
	tls       *tls.Config
	sasl      sasl.Mechanism
	secrets   []string
	maxBytes  int // the request budget for messages
	w         *kafka.Writer
	big       *kafka.Writer // sends a message over the budget alone, so the broker answers it
	transport *kafka.Transport
}

// New returns a Sender. It does not connect; Check does.
func New(o Options) (*Sender, error) {
	c := o.Config
	s := &Sender{name: c.Name, cfg: c, log: o.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if c.Bootstrap == "" || c.Topic == "" {
		return nil, fmt.Errorf("eventstream %s: bootstrap and topic are required", c.Name)
	}
	switch {
	case c.ConnectionString != "":
		s.sasl = plain.Mechanism{Username: ConnectionStringUser, Password: c.ConnectionString}
		s.mech = "SASL PLAIN as " + ConnectionStringUser
		s.secrets = append(s.secrets, c.ConnectionString, sharedKey(c.ConnectionString))
	case o.Tokens != nil:
		s.sasl = oauthBearer{tokens: o.Tokens}
		s.mech = "SASL OAUTHBEARER (Entra ID)"
	default:
		return nil, fmt.Errorf("eventstream %s: connection_string or an Entra ID token source is required", c.Name)
	}
	s.tls = o.TLS
	if s.tls == nil {
		tc, err := kafkasrc.TLSConfig(c.TLS)
		if err != nil {
			return nil, fmt.Errorf("eventstream %s: %w", c.Name, err)
		}
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		s.tls = tc
	}
	maxReq := int(c.MaxRequestBytes)
	if maxReq <= 0 {
		maxReq = int(config.DefaultEventstreamMaxRequestBytes)
	}
	s.maxBytes = max(1024, maxReq-min(requestOverhead, maxReq/8))
	timeout := time.Duration(c.RequestTimeout)
	if timeout <= 0 {
		timeout = config.DefaultEventstreamRequestTimeout
	}
	s.transport = &kafka.Transport{
		DialTimeout: 10 * time.Second,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: time.Minute,
		ClientID:    "pbi-pusher",
		TLS:         s.tls,
		SASL:        s.sasl,
	}
	s.w = s.writer(maxRowsPerSend, int64(s.maxBytes), timeout)
	s.big = s.writer(1, 1<<30, timeout)
	return s, nil
}

// writer returns a kafka-go Writer that puts at most batchSize messages and batchBytes bytes in
// one produce request. kafka-go allocates batchSize messages for every batch it opens, so
// batchSize stays at the most one send can carry.
func (s *Sender) writer(batchSize int, batchBytes int64, timeout time.Duration) *kafka.Writer {
	var bal kafka.Balancer = &kafka.RoundRobin{}
	if s.cfg.KeyColumn != "" {
		bal = &kafka.Hash{}
	}
	return &kafka.Writer{
		Addr:         kafka.TCP(s.cfg.Bootstrap),
		Topic:        s.cfg.Topic,
		Balancer:     bal,
		MaxAttempts:  1, // the dispatcher retries: a failure is classified once, here
		BatchSize:    batchSize,
		BatchBytes:   batchBytes,
		BatchTimeout: 2 * time.Millisecond,
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		RequiredAcks: kafka.RequireAll,
		Transport:    s.transport,
	}
}

// sharedKey returns the SharedAccessKey value of a connection string ("" if none).
func sharedKey(cs string) string {
	for _, part := range bytes.Split([]byte(cs), []byte(";")) {
		k, v, ok := bytes.Cut(part, []byte("="))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("SharedAccessKey")) {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}

// Name returns the eventstreams entry's name.
func (s *Sender) Name() string { return s.name }

// Endpoint returns the bootstrap host:port.
func (s *Sender) Endpoint() string { return s.cfg.Bootstrap }

// MaxMessageBytes returns the request budget one batch of messages may use.
func (s *Sender) MaxMessageBytes() int { return s.maxBytes }

// Check connects to the endpoint and authenticates, so a wrong connection string or an
// unreachable endpoint is reported at start, with the endpoint and the failing step.
func (s *Sender) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	raw, err := (&tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: s.tls}).DialContext(ctx, "tcp", s.cfg.Bootstrap)
	if err != nil {
		return s.fail("connect (TLS)", Retryable, err)
	}
	_ = raw.Close()
	d := &kafka.Dialer{ClientID: "pbi-pusher", Timeout: 10 * time.Second, TLS: s.tls, SASLMechanism: s.sasl}
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Bootstrap)
	if err != nil {
		if saslFailure(err) || connectionClosed(err) {
			return s.fail(s.mech+" authentication failed (check the connection string or the Entra ID principal)", Fatal, err)
		}
		return s.fail("connect", classifyCause(err), err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	parts, err := conn.ReadPartitions(s.cfg.Topic)
	if err != nil {
		return s.fail("read topic metadata", classifyCause(err), err)
	}
	if len(parts) == 0 {
		return s.fail("read topic metadata", Retryable, errors.New("topic has no partitions"))
	}
	return nil
}

func (s *Sender) fail(op string, c Class, err error) *Error {
	return &Error{Endpoint: s.cfg.Bootstrap, Topic: s.cfg.Topic, Op: op, Class: c, Err: redact(err, s.secrets)}
}

// Send writes msgs of table and returns nil once the broker acknowledged every one (acks=all).
// Otherwise it returns an *Error: with Rows set when some messages were delivered and others
// not (each with its own error), else one error for the whole batch.
func (s *Sender) Send(ctx context.Context, table string, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	km := make([]kafka.Message, len(msgs))
	var small, large []int
	for i, m := range msgs {
		km[i] = s.message(table, m)
		if size(km[i]) > s.maxBytes {
			large = append(large, i)
		} else {
			small = append(small, i)
		}
	}
	errs := make([]error, len(msgs))
	failed := false
	if err := s.write(ctx, s.w, km, small, errs); err != nil {
		failed = true
	}
	for _, i := range large {
		if err := s.write(ctx, s.big, km, []int{i}, errs); err != nil {
			failed = true
		}
	}
	if !failed {
		return nil
	}
	err := s.result(ctx, errs)
	if Classify(err) == Retryable && ctx.Err() == nil && connectionClosed(err) {
		// A broker closes the connection on a failed SASL authentication: find out whether that
		// is what happened, so wrong credentials stop this destination with a clear error
		// instead of being retried for ever.
		if cerr := s.Check(ctx); Classify(cerr) == Fatal {
			return cerr
		}
	}
	return err
}

// write sends km[idx...] with w and stores each message's error in errs.
func (s *Sender) write(ctx context.Context, w *kafka.Writer, km []kafka.Message, idx []int, errs []error) error {
	if len(idx) == 0 {
		return nil
	}
	part := make([]kafka.Message, len(idx))
	for j, i := range idx {
		part[j] = km[i]
	}
	err := w.WriteMessages(ctx, part...)
	if err == nil {
		return nil
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) && len(we) == len(idx) {
		for j, i := range idx {
			errs[i] = we[j]
		}
		return err
	}
	for _, i := range idx {
		errs[i] = err
	}
	return err
}

// result folds per-message errors into one classified *Error.
func (s *Sender) result(ctx context.Context, errs []error) error {
	var first error
	worst := OK
	delivered, mixed := 0, false
	for _, e := range errs {
		if e == nil {
			delivered++
			continue
		}
		c := classifyCause(e)
		if isCanceled(ctx, e) {
			c = Retryable
		}
		if first == nil {
			first, worst = e, c
		} else if c != worst {
			mixed = true
			worst = max(worst, c)
		}
	}
	out := s.fail("produce", worst, first)
	if delivered > 0 || mixed {
		out.Rows = make([]error, len(errs))
		for i, e := range errs {
			if e != nil {
				c := classifyCause(e)
				if isCanceled(ctx, e) {
					c = Retryable
				}
				out.Rows[i] = s.fail("produce", c, e)
			}
		}
	}
	return out
}

// message builds the Kafka message of one row.
func (s *Sender) message(table string, m Message) kafka.Message {
	km := kafka.Message{Value: m.Data, Headers: []kafka.Header{{Key: HeaderTable, Value: []byte(table)}}}
	if m.Position != "" {
		km.Headers = append(km.Headers, kafka.Header{Key: HeaderPosition, Value: []byte(m.Position)})
	}
	if s.cfg.KeyColumn != "" {
		km.Key = columnValue(m.Data, s.cfg.KeyColumn)
	}
	return km
}

// size is an upper bound of kafka-go's size of m in a request.
func size(m kafka.Message) int {
	n := 64 + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

// columnValue returns the value of column in a row object: a string's text, another value's
// JSON, nil when absent or null.
func columnValue(row []byte, column string) []byte {
	var obj map[string]json.RawMessage
	if json.Unmarshal(row, &obj) != nil {
		return nil
	}
	v, ok := obj[column]
	if !ok || string(v) == "null" {
		return nil
	}
	var str string
	if v[0] == '"' && json.Unmarshal(v, &str) == nil {
		return []byte(str)
	}
	return v
}

// Close closes the writers' connections.
func (s *Sender) Close() error {
	return errors.Join(s.w.Close(), s.big.Close())
}

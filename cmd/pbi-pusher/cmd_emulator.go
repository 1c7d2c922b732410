package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
)

// listFlag is a repeatable flag that also splits comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// emulatorFlags are the parsed flags of `pbi-pusher emulator`.
type emulatorFlags struct {
	listen, tlsCert, tlsKey, tlsCertOut, tlsKeyOut, logLevel string
	tls                                                      bool
	tokens, aadClients, workspaces                           listFlag
	aadLifetime, aadDiesAfter                                time.Duration
	opts                                                     emulator.Options
}

const emulatorExample = "pbi-pusher emulator -listen 127.0.0.1:8080 -token dev-token -posts-per-minute 30 -fail-rate 0.05"

func parseEmulatorFlags(args []string, stderr io.Writer) (*emulatorFlags, int, bool) {
	f := &emulatorFlags{}
	fs := newFlagSet("emulator", "emulator [flags]", emulatorExample, stderr)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	fs.Var(&f.tokens, "token", "accepted bearer token (repeatable or comma list; none = any non-empty token, unless -aad-client)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (needs -tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.BoolVar(&f.tls, "tls", false, "serve HTTPS with a new self-signed certificate written to -tls-cert-out")
	fs.StringVar(&f.tlsCertOut, "tls-cert-out", "emulator-cert.pem", "where -tls writes its certificate (trust it as the CA file)")
	fs.StringVar(&f.tlsKeyOut, "tls-key-out", "emulator-key.pem", "where -tls writes its private key")
	fs.Var(&f.aadClients, "aad-client", "serve a fake Azure AD on the same listener accepting CLIENT_ID=SECRET (repeatable); only its tokens are then valid besides -token")
	fs.DurationVar(&f.aadLifetime, "aad-token-lifetime", time.Hour, "lifetime of fake Azure AD tokens (expiry is enforced; an expired token is answered 403 TokenExpired)")
	fs.DurationVar(&f.aadDiesAfter, "aad-token-dies-after", 0, "fake Azure AD tokens die this long after issue while expires_in still advertises -aad-token-lifetime (0 = off)")
	fs.Var(&f.workspaces, "workspace", "create the workspace ID[=NAME] (ID a uuid; repeatable); requests to other workspace ids get 404 PowerBIEntityNotFound")
	fs.BoolVar(&f.opts.StrictTypes, "strict-types", false, "refuse strings for Int64, Double, Decimal and Boolean columns (default: convert \"123\", \"1.5\", \"true\")")
	fs.StringVar(&f.opts.ThrottleBody, "throttle-body", emulator.ThrottleBodyMessage, "429 body shape: message (the live {\"message\":…}) or error ({\"error\":{\"code\":\"TooManyRequests\",…}})")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	limitFlags(fs, &f.opts)
	faultFlags(fs, &f.opts)
	code, done := parseFlags(fs, args)
	if done {
		return nil, code, true
	}
	if fs.NArg() > 0 || (f.tlsCert == "") != (f.tlsKey == "") || (f.tls && f.tlsCert != "") {
		fmt.Fprintln(stderr, "pbi-pusher emulator: no arguments allowed; -tls-cert and -tls-key go together; -tls excludes -tls-cert")
		return nil, exitUsage, true
	}
	if err := f.parseWorkspaces(); err != nil {
		fmt.Fprintf(stderr, "pbi-pusher emulator: %v\n", err)
		return nil, exitUsage, true
	}
	if f.opts.ThrottleBody != emulator.ThrottleBodyMessage && f.opts.ThrottleBody != emulator.ThrottleBodyError {
		fmt.Fprintf(stderr, "pbi-pusher emulator: -throttle-body %q: want message or error\n", f.opts.ThrottleBody)
		return nil, exitUsage, true
	}
	return f, exitOK, false
}

// parseWorkspaces turns the -workspace ID[=NAME] values into Options.Workspaces.
func (f *emulatorFlags) parseWorkspaces() error {
	for _, v := range f.workspaces {
		id, name, _ := strings.Cut(v, "=")
		if !emulator.ValidWorkspaceID(id) {
			return fmt.Errorf("-workspace %q: the id must be a uuid", v)
		}
		f.opts.Workspaces = append(f.opts.Workspaces, emulator.Workspace{ID: id, Name: name})
	}
	return nil
}

func limitFlags(fs *flag.FlagSet, o *emulator.Options) {
	fs.IntVar(&o.RowsPerPost, "rows-per-post", emulator.DefaultRowsPerPost, "max rows in one POST rows request (400 above)")
	fs.IntVar(&o.PostsPerMinute, "posts-per-minute", emulator.DefaultPostsPerMinute, "POST rows per rolling minute per dataset (429)")
	fs.IntVar(&o.PostsPerHourLarge, "posts-per-hour-large", emulator.DefaultPostsPerHourLarge, "POST rows per rolling hour once a retention-None table holds -large-table-rows")
	fs.IntVar(&o.LargeTableRows, "large-table-rows", emulator.DefaultLargeTableRows, "rows in a retention-None table that switch its dataset to the hourly POST limit")
	fs.IntVar(&o.RowsPerHour, "rows-per-hour", emulator.DefaultRowsPerHour, "rows per rolling hour per dataset (429)")
	fs.IntVar(&o.PendingPosts, "pending-posts", emulator.DefaultPendingPosts, "concurrent POST rows per dataset (429, Retry-After 1)")
	fs.IntVar(&o.FIFORows, "fifo-rows", emulator.DefaultFIFORows, "rows a basicFIFO table keeps (oldest dropped)")
	fs.IntVar(&o.MaxTableRows, "max-table-rows", emulator.DefaultMaxTableRows, "rows a retention-None table may hold (400 above)")
	fs.Int64Var(&o.MaxBodyBytes, "max-body-bytes", emulator.DefaultMaxBodyBytes, "request body cap in bytes (413 above)")
	fs.IntVar(&o.MaxStringLen, "max-string-len", emulator.DefaultMaxStringLen, "characters per String value (400 above)")
	fs.IntVar(&o.MaxTables, "max-tables", emulator.DefaultMaxTables, "tables per dataset")
	fs.IntVar(&o.MaxColumns, "max-columns", emulator.DefaultMaxColumns, "columns per table")
	fs.IntVar(&o.MaxRelationships, "max-relationships", emulator.DefaultMaxRelationships, "relationships per dataset")
}

func faultFlags(fs *flag.FlagSet, o *emulator.Options) {
	fs.Float64Var(&o.FailRate, "fail-rate", 0, "share of POST rows answered 500 (nothing stored)")
	fs.Float64Var(&o.ThrottleRate, "throttle-rate", 0, "share of POST rows answered 429 (Retry-After 1, nothing stored)")
	fs.Float64Var(&o.SlowRate, "slow-rate", 0, "share of POST rows delayed by -slow-delay")
	fs.DurationVar(&o.SlowDelay, "slow-delay", 2*time.Second, "delay of a slow POST rows response")
	fs.Float64Var(&o.DropRate, "drop-rate", 0, "share of POST rows stored, then the connection closed without a response")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the fault-injection randomness")
	fs.StringVar(&o.RejectRowsContaining, "reject-rows-containing", "", "a row with a string value containing this text is rejected (400)")
}

// runEmulator serves the Power BI push API emulator until ctx is done.
func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, code, done := parseEmulatorFlags(args, stderr)
	if done {
		return code
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		fmt.Fprintf(stderr, "pbi-pusher emulator: bad -log-level %q\n", f.logLevel)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serveEmulator(ctx, f, log, stdout); err != nil {
		fmt.Fprintf(stderr, "pbi-pusher emulator: %v\n", err)
		return exitFatal
	}
	return exitOK
}

func serveEmulator(ctx context.Context, f *emulatorFlags, log *slog.Logger, stdout io.Writer) error {
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", f.listen, err)
	}
	srv := &http.Server{Handler: emulatorHandler(f, log), ReadHeaderTimeout: 10 * time.Second,
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}} // HTTP/1.1 only, so drops can hijack
	scheme, err := configureTLS(srv, f, ln.Addr())
	if err != nil {
		_ = ln.Close()
		return err
	}
	base := scheme + "://" + ln.Addr().String()
	fmt.Fprintf(stdout, "Power BI emulator listening: %s/v1.0/myorg (web page %s/)\n", base, base)
	errc := make(chan error, 1)
	go func() { errc <- serveOn(srv, ln, scheme == "https") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("emulator stopping")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func serveOn(srv *http.Server, ln net.Listener, useTLS bool) error {
	var err error
	if useTLS {
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve: %w", err)
}

// configureTLS sets srv's certificate and returns the URL scheme.
func configureTLS(srv *http.Server, f *emulatorFlags, addr net.Addr) (string, error) {
	var cert tls.Certificate
	var err error
	switch {
	case f.tlsCert != "":
		cert, err = tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
	case f.tls:
		host, _, _ := net.SplitHostPort(addr.String())
		cert, err = aad.WriteSelfSigned(f.tlsCertOut, f.tlsKeyOut, []string{"localhost", "127.0.0.1", "::1", host})
	default:
		return "http", nil
	}
	if err != nil {
		return "", fmt.Errorf("tls certificate: %w", err)
	}
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return "https", nil
}

// emulatorHandler builds the emulator, with the fake Azure AD on the same listener when
// -aad-client is given (its tokens are validated, expiry included).
func emulatorHandler(f *emulatorFlags, log *slog.Logger) http.Handler {
	o := f.opts
	o.Tokens, o.Logger = f.tokens, log.With("component", "emulator")
	if len(f.aadClients) == 0 {
		return emulator.New(o)
	}
	clients := map[string]string{}
	for _, c := range f.aadClients {
		id, secret, _ := strings.Cut(c, "=")
		clients[id] = secret
	}
	idp := aad.New(aad.Options{Clients: clients, TokenLifetime: f.aadLifetime, DiesAfter: f.aadDiesAfter,
		Logger: log.With("component", "aad")})
	o.ValidateToken, o.ExpiredToken = idp.Valid, idp.Expired
	emu := emulator.New(o)
	mux := http.NewServeMux()
	mux.Handle("/v1.0/", emu)
	mux.Handle("/emulator/", emu)
	mux.Handle("GET /{$}", emu)
	mux.Handle("/", idp)
	return mux
}

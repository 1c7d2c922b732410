package httpsrc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// Server is the HTTP ingest source. Create it with New; Run listens, Handler serves tests.
type Server struct {
	listen  string
	dataset string // the dataset the source is bound to; "" accepts every dataset
	tokens  [][sha256.Size]byte
	opts    Options
	log     *slog.Logger
	handler http.Handler
	slots   chan struct{} // one per request being spooled
	budget  *budget       // bytes of rows held by requests being read
	origins map[string]bool
}

// New checks cfg (type http) and opts and returns a Server.
func New(cfg config.Source, opts Options) (*Server, error) {
	if opts.Resolve == nil {
		return nil, fmt.Errorf("http source %q: no resolver", cfg.Table)
	}
	listen := listenAddr(cfg.Listen)
	if len(cfg.Tokens) == 0 && !cfg.AllowUnauthenticated && !config.LoopbackListen(listen) {
		return nil, fmt.Errorf("http source %q: listening on %s beyond loopback without tokens is refused: set tokens, or allow_unauthenticated: true", cfg.Table, listen)
	}
	if cfg.ReadTimeout > 0 {
		opts.ReadTimeout = time.Duration(cfg.ReadTimeout)
	}
	opts = opts.withDefaults()
	s := &Server{listen: listen, opts: opts, log: opts.Logger.With("source", "http", "listen", listen),
		slots: make(chan struct{}, opts.MaxInFlight), budget: newBudget(int64(opts.MaxInFlight) * opts.MaxBodyBytes),
		origins: map[string]bool{}}
	for _, o := range cfg.AllowedOrigins {
		s.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	s.dataset, _, _ = strings.Cut(cfg.Table, "/")
	for _, t := range cfg.Tokens {
		s.tokens = append(s.tokens, sha256.Sum256([]byte(t)))
	}
	s.handler = s.routes()
	return s, nil
}

// listenAddr applies the default address and, to a bare host, the default port. An address
// that still does not parse fails in Run.
func listenAddr(listen string) string {
	if listen == "" {
		return config.DefaultHTTPListen
	}
	if _, _, err := net.SplitHostPort(listen); err == nil {
		return listen
	}
	_, port, _ := net.SplitHostPort(config.DefaultHTTPListen) // a valid constant
	return net.JoinHostPort(strings.Trim(listen, "[]"), port)
}

// Addr is the address Run listens on (Listen with the default host and port applied).
func (s *Server) Addr() string { return s.listen }

// Handler returns the HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on the configured address and serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.listen)
	if err != nil {
		return fmt.Errorf("http source: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends; in-flight requests get Options.ShutdownTimeout to finish.
// It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// A backstop: each request sets its own body deadline (Options.ReadTimeout).
		ReadTimeout: s.opts.ReadTimeout + 10*time.Second,
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("http source listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("http source: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("http source: requests still running at shutdown timeout, closing them", "err", err)
		_ = srv.Close() // their rows were not acknowledged; the clients retry
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http source: serve: %w", err)
	}
	s.log.Info("http source stopped")
	return nil
}

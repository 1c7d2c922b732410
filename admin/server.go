package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ServerOptions configure NewServer.
type ServerOptions struct {
	Listen   string              // admin.listen, e.g. 127.0.0.1:9464 (port 0 picks one)
	Gatherer prometheus.Gatherer // the registry NewMetrics registered on
	Metrics  *Metrics            // source of /status; nil = /status reports readiness only
	Ready    func() bool         // optional extra readiness condition, ANDed with SetReady
	Logger   *slog.Logger        // nil = discard
	// ShutdownTimeout bounds the graceful shutdown when Run's ctx ends. 0 = 5s.
	ShutdownTimeout time.Duration
	// Token is the bearer token replay and purge require (admin.token_file). Without one they
	// are allowed only when Listen is a loopback address.
	Token string
	Now   func() time.Time // nil = time.Now
}

// Server is the admin HTTP server.
type Server struct {
	o     ServerOptions
	log   *slog.Logger
	ln    net.Listener
	srv   *http.Server
	ready atomic.Bool
	spool atomic.Pointer[SpoolAdmin]
}

// NewServer binds o.Listen at once (so a busy port fails at startup) and returns the server.
// /readyz answers 503 until SetReady(true).
func NewServer(o ServerOptions) (*Server, error) {
	if o.Gatherer == nil {
		return nil, errors.New("admin server: a Gatherer is required")
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	s := &Server{o: o, log: o.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin server: listen %s: %w", o.Listen, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// SetReady marks the process ready (spool open, sink authenticated) or not. Throttling does not
// make it unready.
func (s *Server) SetReady(v bool) { s.ready.Store(v) }

// Ready reports what /readyz reports.
func (s *Server) Ready() bool {
	return s.ready.Load() && (s.o.Ready == nil || s.o.Ready())
}

// Handler returns the admin routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.o.Gatherer, promhttp.HandlerOpts{ErrorLog: slogErrorLog{s.log}}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /status", s.status)
	s.apiRoutes(mux)
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.Ready() {
		writeText(w, http.StatusOK, "ready\n")
		return
	}
	writeText(w, http.StatusServiceUnavailable, "not ready\n")
}

// Run serves until ctx is done, then shuts down gracefully (bounded by ShutdownTimeout).
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("admin server listening", "addr", s.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("admin server shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin server: %w", err)
	}
	s.log.Info("admin server stopped")
	return nil
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// slogErrorLog adapts slog to promhttp's error logger.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Error("metrics scrape", "err", fmt.Sprint(v...)) }

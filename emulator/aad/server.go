// Package aad is a fake Azure AD (Entra ID) token service for tests and the Power BI emulator: it
// serves the endpoints MSAL Go calls (discovery, token, device code, user realm, managed identity),
// issues opaque access tokens and validates them.
package aad

import (
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// DefaultTokenLifetime is the lifetime of issued access tokens when Options.TokenLifetime is 0.
const DefaultTokenLifetime = time.Hour

// Options configure a Server. The zero value serves discovery and managed identity only.
type Options struct {
	// TokenLifetime is the expires_in of every access token. Default 1h. MSAL never caches a
	// token with less than 5 minutes left, so shorter lifetimes make every MSAL call hit the fake.
	TokenLifetime time.Duration
	// RefreshIn, when > 0, is sent as refresh_in (MSAL refreshes proactively after it).
	RefreshIn time.Duration
	// DiesAfter, when > 0 and shorter than TokenLifetime, makes every access token invalid
	// (expired) DiesAfter after it was issued while expires_in still advertises TokenLifetime:
	// the case of a revoked token, clock skew or a session that ended early, which catches
	// clients that trust expires_in alone.
	DiesAfter time.Duration

	// Clients maps confidential client ids to their client secrets.
	Clients map[string]string
	// Certs maps confidential client ids to the certificates whose keys may sign client assertions.
	Certs map[string][]*x509.Certificate
	// FederatedToken, when set, decides whether a client assertion that is not a certificate
	// assertion is an acceptable workload-identity (federated) token for clientID.
	FederatedToken func(clientID, assertion string) bool

	// Users maps usernames to passwords for the password (ROPC) grant.
	Users map[string]string
	// DeviceCodeUser is the user a device code is approved for. Default "device-user@example.test".
	DeviceCodeUser string
	// DeviceCodePendingPolls is how many authorization_pending answers a device code gets before
	// its token is released.
	DeviceCodePendingPolls int

	// IdentityHeader is the X-IDENTITY-HEADER the managed identity endpoint requires
	// (empty = any non-empty value).
	IdentityHeader string

	// Now is the clock of token expiry and assertion validation (nil = time.Now).
	Now func() time.Time
	// Logger receives per-request debug logs (nil = discard). Secrets and tokens are never logged.
	Logger *slog.Logger
}

// Stats counts requests per endpoint and grant type.
type Stats struct {
	Discovery       int // GET openid-configuration
	ClientSecret    int // client_credentials with client_secret
	ClientCert      int // client_credentials with a certificate assertion
	Federated       int // client_credentials with a federated (workload identity) assertion
	Password        int // grant_type=password
	RefreshToken    int // grant_type=refresh_token
	DeviceCodePolls int // grant_type=device_code
	DeviceCodes     int // POST devicecode
	UserRealm       int // GET UserRealm
	ManagedIdentity int // GET managed identity endpoint
	Issued          int // access tokens issued
	Rejected        int // requests answered with an error
}

// Server is a fake Azure AD. It is safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	mu      sync.Mutex
	stats   Stats
	access  map[string]time.Time // access token -> expiry
	refresh map[string]session   // refresh token -> session
	devices map[string]*device   // device code -> state
}

// session is what a refresh token stands for.
type session struct {
	clientID, user, tenant, scope string
}

// device is one pending device code.
type device struct {
	session
	pending int
	used    bool
}

// New returns a Server with opts.
func New(opts Options) *Server {
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DeviceCodeUser == "" {
		opts.DeviceCodeUser = "device-user@example.test"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		opts:    opts,
		log:     log,
		access:  map[string]time.Time{},
		refresh: map[string]session{},
		devices: map[string]*device{},
	}
	s.mux = s.routes()
	return s
}

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.handleDiscovery)
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.handleToken)
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/devicecode", s.handleDeviceCode)
	m.HandleFunc("GET /common/UserRealm/{user}", s.handleUserRealm)
	m.HandleFunc("GET /common/userrealm/{user}", s.handleUserRealm)
	m.HandleFunc("GET /msi/token", s.handleManagedIdentity)
	m.HandleFunc("GET /metadata/identity/oauth2/token", s.handleManagedIdentity)
	return m
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.log.Debug("aad request", "method", r.Method, "path", r.URL.Path)
	s.mux.ServeHTTP(w, r)
}

// Valid reports whether token was issued by s and has not expired at Now.
func (s *Server) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.access[token]
	return ok && s.opts.Now().Before(exp)
}

// Expired reports whether token was issued by s and has expired at Now (tokens are remembered
// for ExpiredMemory after their expiry), so a resource server can tell an expired token from
// one it never saw.
func (s *Server) Expired(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.access[token]
	return ok && !s.opts.Now().Before(exp)
}

// Stats returns a snapshot of the request counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// count increments one counter under the lock.
func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

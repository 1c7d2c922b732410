package auth

import (
	"fmt"
	"net/http"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// builder holds what every MSAL-backed method needs.
type builder struct {
	method string
	a      config.Auth
	opts   Options
	ep     endpoints
	http   *http.Client
}

// publicTenant is the tenant of user flows when auth.tenant is empty (work or school accounts).
const publicTenant = "organizations"

func newBuilder(cfg *config.Config, opts Options) (*builder, error) {
	a := cfg.Auth
	if a.Method == MethodWorkloadIdentity {
		a = withWorkloadEnv(a)
	}
	tenant := a.Tenant
	if tenant == "" && (a.Method == MethodDeviceCode || a.Method == MethodUsernamePassword) {
		tenant = publicTenant
	}
	ep, err := resolveEndpoints(cfg.PowerBI.Cloud, a, tenant)
	if err != nil {
		return nil, fmt.Errorf("auth %s: %w", a.Method, err)
	}
	hc := opts.HTTPClient
	if hc == nil {
		if hc, err = HTTPClient(cfg); err != nil {
			return nil, fmt.Errorf("auth %s: %w", a.Method, err)
		}
	}
	return &builder{method: a.Method, a: a, opts: opts, ep: ep, http: hc}, nil
}

// build returns the Source for b.method.
func (b *builder) build() (Source, error) {
	var (
		f   fetcher
		err error
	)
	switch b.method {
	case MethodClientSecret, MethodClientCert, MethodWorkloadIdentity:
		f, err = b.confidential()
	case MethodManagedIdentity:
		f, err = b.managed()
	case MethodDeviceCode, MethodUsernamePassword:
		f, err = b.public()
	default:
		return nil, fmt.Errorf("auth.method %q is not one of static_token, client_secret, client_certificate, "+
			"workload_identity, managed_identity, device_code, username_password", b.method)
	}
	if err != nil {
		return nil, fmt.Errorf("auth %s: %w", b.method, err)
	}
	return newCaching(b.describe(), b.method, f, b.opts, b.secrets()), nil
}

// require returns an error naming the first empty key.
func require(kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			return fmt.Errorf("%s is required", kv[i])
		}
	}
	return nil
}

// describe names the method, tenant, client and authority, never a secret.
func (b *builder) describe() string {
	if b.method == MethodManagedIdentity {
		id := "system-assigned"
		if b.a.ClientID != "" {
			id = "client_id=" + b.a.ClientID
		}
		return fmt.Sprintf("%s(%s scope=%s)", b.method, id, b.ep.scope)
	}
	return fmt.Sprintf("%s(authority=%s client_id=%s scope=%s)", b.method, b.ep.authority, b.a.ClientID, b.ep.scope)
}

// secrets are the configured values no error text may contain.
func (b *builder) secrets() []string {
	return []string{b.a.ClientSecret, b.a.CertificatePassword, b.a.Password, b.a.Token}
}

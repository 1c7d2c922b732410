package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// problems collects Validate's findings, each with its key path and (when known) its line.
type problems struct {
	c         *Config
	errs      []error
	skipCreds bool // do not require auth credentials (ValidateOptions.AllowMissingCredentials)
}

func (p *problems) add(path, format string, args ...any) {
	msg := path + ": " + fmt.Sprintf(format, args...)
	switch line := p.line(path); {
	case p.c.File != "" && line > 0:
		msg = fmt.Sprintf("%s:%d: %s", p.c.File, line, msg)
	case p.c.File != "":
		msg = p.c.File + ": " + msg
	}
	p.errs = append(p.errs, errors.New(msg))
}

// line finds the line of path, or of its nearest parent that was written in the file.
func (p *problems) line(path string) int {
	for path != "" {
		if l, ok := p.c.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

// oneOf checks an enumerated value; empty means "use the default" and is accepted.
func (p *problems) oneOf(path, v string, allowed ...string) {
	if v == "" {
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	p.add(path, "unknown value %q (want %s)", clip(v), strings.Join(allowed, ", "))
}

// required reports an empty value. It never prints the value, so it is safe for secrets.
func (p *problems) required(path, v, why string) {
	if v == "" {
		p.add(path, "required %s", why)
	}
}

// Validate reports every problem at once (errors.Join), each naming the key path and, for a
// loaded file, the file and line. Empty enumerated values mean "the default" and are accepted.
// Secret values never appear in a message. Requiring at least one dataset is left to the caller.
func (c *Config) Validate() error {
	return c.ValidateWith(ValidateOptions{})
}

// ValidateOptions relax Validate for callers that do not talk to Power BI.
type ValidateOptions struct {
	// AllowMissingCredentials skips the per-method required auth fields (token, client_secret,
	// ...), e.g. for `backfill -emulator` or an offline `validate`. Everything else is checked.
	AllowMissingCredentials bool
}

// ValidateWith is Validate with options.
func (c *Config) ValidateWith(opts ValidateOptions) error {
	p := &problems{c: c, skipCreds: opts.AllowMissingCredentials}
	c.validatePowerBI(p)
	if c.UsesPowerBI() {
		c.Auth.validate(p) // tables only for eventstreams need no Power BI credentials
	}
	p.oneOf("spool.when_full", c.Spool.WhenFull, "block", "drop_oldest")
	if c.Spool.MaxBytes < 0 {
		p.add("spool.max_bytes", "must not be negative")
	}
	if c.Spool.ReserveBytes < 0 {
		p.add("spool.reserve_bytes", "must not be negative")
	}
	if c.Spool.DeadLetterMaxBytes < 0 {
		p.add("spool.dead_letter_max_bytes", "must not be negative")
	}
	c.validateDurations(p)
	c.validateDatasets(p)
	c.validateEventstreams(p)
	for i := range c.Sources {
		c.validateSource(p, i)
	}
	if c.Batch.MaxInflightBytes < 0 {
		p.add("batch.max_inflight_bytes", "must not be negative")
	}
	if r := c.Batch.LiveReserve; r != nil && !(*r >= 0 && *r <= MaxLiveReserve) {
		p.add("batch.live_reserve", "must be between 0 and %v (a share of the limits)", MaxLiveReserve)
	}
	p.oneOf("log.format", c.Log.Format, "auto", "text", "json")
	p.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	return errors.Join(p.errs...)
}

func (c *Config) validatePowerBI(p *problems) {
	if _, ok := Clouds[c.PowerBI.Cloud]; !ok && c.PowerBI.Cloud != "" {
		p.add("powerbi.cloud", "unknown cloud %q (want public, usgov, usgovhigh, usdod, china)", clip(c.PowerBI.Cloud))
	}
	if c.PowerBI.APIURL != "" && !httpURL(c.PowerBI.APIURL) {
		p.add("powerbi.api_url", "not an absolute http(s) URL")
	}
}

func (c *Config) validateDurations(p *problems) {
	for _, f := range []struct {
		path string
		d    Duration
	}{
		{"powerbi.request_timeout", c.PowerBI.RequestTimeout},
		{"batch.linger", c.Batch.Linger},
		{"shutdown_timeout", c.ShutdownTimeout},
	} {
		if f.d < 0 {
			p.add(f.path, "must not be negative")
		}
	}
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// authRequired lists, per method, the fields that must be set.
var authRequired = map[string][]string{
	"static_token":       {"token"},
	"client_secret":      {"tenant", "client_id", "client_secret"},
	"client_certificate": {"tenant", "client_id", "certificate"},
	"username_password":  {"client_id", "username", "password"},
	"device_code":        {"client_id"},
	"workload_identity":  nil,
	"managed_identity":   nil,
}

func (a *Auth) validate(p *problems) {
	method := a.Method
	if method == "" {
		method = DefaultAuthMethod
	}
	need, ok := authRequired[method]
	if !ok {
		p.add("auth.method", "unknown method %q (want static_token, client_secret, client_certificate, "+
			"username_password, device_code, workload_identity, managed_identity)", clip(a.Method))
		return
	}
	values := map[string]string{
		"token": a.Token, "tenant": a.Tenant, "client_id": a.ClientID, "client_secret": a.ClientSecret,
		"certificate": a.Certificate, "username": a.Username, "password": a.Password,
	}
	for _, key := range need {
		if p.skipCreds {
			break
		}
		p.required("auth."+key, values[key], "for auth method "+method)
	}
	if a.AuthorityURL != "" && !httpURL(a.AuthorityURL) {
		p.add("auth.authority_url", "not an absolute http(s) URL")
	}
}

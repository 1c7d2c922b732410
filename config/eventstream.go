package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// DestinationPowerBI names a table's Power BI dataset in Table.Destinations.
const DestinationPowerBI = "powerbi"

// Eventstream defaults: one Event Hubs throughput unit (about 1 MB/s or 1,000 events/s of
// ingress) and the Event Hubs request limit of 1 MB.
const (
	DefaultEventstreamBytesPerSecond  = ByteSize(1_000_000)
	DefaultEventstreamEventsPerSecond = 1000
	DefaultEventstreamMaxRequestBytes = ByteSize(1_000_000)
	DefaultEventstreamRequestTimeout  = 30 * time.Second
	DefaultEventstreamScope           = "https://eventhubs.azure.net/.default"
	// EventstreamPort is the Kafka endpoint port of an Event Hubs namespace.
	EventstreamPort = "9093"
)

// Eventstream is a Microsoft Fabric Eventstream custom endpoint (or any Event Hubs namespace)
// reached over its Kafka surface: SASL_SSL, PLAIN with the connection string, or OAUTHBEARER
// with an Entra ID token.
type Eventstream struct {
	// Name is how tables refer to it in destinations.
	Name string `yaml:"name"`
	// ConnectionString is the endpoint's connection string (Endpoint=sb://...;EntityPath=...).
	// It is the SASL PLAIN password (user $ConnectionString) and gives the bootstrap and topic
	// defaults. Without it, Auth (Entra ID, OAUTHBEARER) is used.
	ConnectionString string `yaml:"connection_string"`
	// Bootstrap is host:port of the Kafka endpoint. Default: the connection string's
	// Endpoint host with port 9093.
	Bootstrap string `yaml:"bootstrap"`
	// Topic is the event hub. Default: the connection string's EntityPath.
	Topic string `yaml:"topic"`
	// Auth obtains an Entra ID token for OAUTHBEARER with the same methods as the top-level
	// auth block (scope default https://eventhubs.azure.net/.default). Used only without
	// connection_string.
	Auth *Auth `yaml:"auth"`
	// TLS adds a CA bundle or a client certificate; TLS itself is always on.
	TLS *TLS `yaml:"tls"`
	// BytesPerSecond and EventsPerSecond cap what pbi-pusher sends (defaults: one throughput
	// unit, 1MB/s and 1000 events/s).
	BytesPerSecond  ByteSize `yaml:"bytes_per_second"`
	EventsPerSecond int      `yaml:"events_per_second"`
	// KeyColumn names the column whose value is the message key (rows with the same key go
	// to the same partition, in order). Default: no key (round robin).
	KeyColumn string `yaml:"key_column"`
	// MaxRequestBytes bounds one produce request. Default 1MB (the Event Hubs limit).
	MaxRequestBytes ByteSize `yaml:"max_request_bytes"`
	// RequestTimeout bounds one produce request. Default 30s.
	RequestTimeout Duration `yaml:"request_timeout"`
}

func (e *Eventstream) applyDefaults() {
	if e.BytesPerSecond == 0 {
		e.BytesPerSecond = DefaultEventstreamBytesPerSecond
	}
	setInt(&e.EventsPerSecond, DefaultEventstreamEventsPerSecond)
	if e.MaxRequestBytes == 0 {
		e.MaxRequestBytes = DefaultEventstreamMaxRequestBytes
	}
	setDuration(&e.RequestTimeout, DefaultEventstreamRequestTimeout)
	if e.Auth != nil {
		setString(&e.Auth.Scope, DefaultEventstreamScope)
	}
	if e.ConnectionString == "" {
		return
	}
	if cs, err := ParseConnectionString(e.ConnectionString); err == nil {
		if e.Bootstrap == "" {
			e.Bootstrap = cs.Bootstrap()
		}
		setString(&e.Topic, cs.EntityPath)
	}
}

// DestinationNames returns the table's destinations ([powerbi] when none are configured).
func (t Table) DestinationNames() []string {
	if len(t.Destinations) == 0 {
		return []string{DestinationPowerBI}
	}
	return t.Destinations
}

// UsesPowerBI reports whether any table is delivered to Power BI (every table is, unless its
// destinations leave powerbi out).
func (c *Config) UsesPowerBI() bool {
	for _, ds := range c.Datasets {
		for _, t := range ds.Tables {
			for _, d := range t.DestinationNames() {
				if d == DestinationPowerBI {
					return true
				}
			}
		}
	}
	return len(c.Datasets) == 0
}

// Eventstream returns the eventstreams entry called name.
func (c *Config) Eventstream(name string) (*Eventstream, bool) {
	for i := range c.Eventstreams {
		if c.Eventstreams[i].Name == name {
			return &c.Eventstreams[i], true
		}
	}
	return nil, false
}

// ConnectionString is the parsed form of an Event Hubs / Eventstream connection string.
type ConnectionString struct {
	Endpoint   *url.URL // sb://<namespace>.servicebus.windows.net/
	KeyName    string   // SharedAccessKeyName
	EntityPath string
}

// Bootstrap returns the Kafka endpoint: the Endpoint host at port 9093 (or the Endpoint's own
// port when it has one).
func (c ConnectionString) Bootstrap() string {
	if c.Endpoint.Port() != "" {
		return c.Endpoint.Host
	}
	return net.JoinHostPort(c.Endpoint.Hostname(), EventstreamPort)
}

// ParseConnectionString parses "Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...;
// EntityPath=...". Errors name the part that is wrong, never a value (the string is a secret).
func ParseConnectionString(s string) (ConnectionString, error) {
	var cs ConnectionString
	var key, endpoint bool
	for _, part := range strings.Split(strings.TrimSpace(s), ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return cs, fmt.Errorf("connection string: a part has no '=' (want Key=Value;...)")
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "endpoint":
			u, err := url.Parse(strings.TrimSpace(v))
			if err != nil || u.Hostname() == "" {
				return cs, fmt.Errorf("connection string: Endpoint is not a URL like sb://NAMESPACE.servicebus.windows.net/")
			}
			cs.Endpoint, endpoint = u, true
		case "sharedaccesskeyname":
			cs.KeyName = strings.TrimSpace(v)
		case "sharedaccesskey", "sharedaccesssignature":
			key = strings.TrimSpace(v) != ""
		case "entitypath":
			cs.EntityPath = strings.TrimSpace(v)
		}
	}
	switch {
	case !endpoint:
		return cs, fmt.Errorf("connection string: Endpoint is missing")
	case !key:
		return cs, fmt.Errorf("connection string: SharedAccessKey (or SharedAccessSignature) is missing")
	}
	return cs, nil
}

func (c *Config) validateEventstreams(p *problems) {
	seen := map[string]int{}
	for i := range c.Eventstreams {
		e := &c.Eventstreams[i]
		path := fmt.Sprintf("eventstreams[%d]", i)
		switch j, dup := seen[e.Name]; {
		case e.Name == "":
			p.add(path+".name", "required")
		case e.Name == DestinationPowerBI:
			p.add(path+".name", "%q names the Power BI dataset in destinations; choose another name", DestinationPowerBI)
		case dup:
			p.add(path+".name", "duplicate eventstream name %q (also eventstreams[%d])", clip(e.Name), j)
		default:
			seen[e.Name] = i
		}
		e.validate(p, path)
	}
	for i := range c.Datasets {
		for j, t := range c.Datasets[i].Tables {
			c.validateDestinations(p, fmt.Sprintf("datasets[%d].tables[%d].destinations", i, j), t.Destinations)
		}
	}
}

func (e *Eventstream) validate(p *problems, path string) {
	if e.ConnectionString != "" {
		if _, err := ParseConnectionString(e.ConnectionString); err != nil {
			p.add(path+".connection_string", "%v", err)
			return
		}
	} else if e.Auth == nil {
		p.add(path, "connection_string or auth (Entra ID) is required")
	}
	if e.Auth != nil && e.ConnectionString == "" {
		sub := &problems{c: p.c, skipCreds: p.skipCreds}
		e.Auth.validate(sub)
		for _, err := range sub.errs {
			p.errs = append(p.errs, fmt.Errorf("%s.%w", path, err))
		}
	}
	if e.Bootstrap == "" {
		p.add(path+".bootstrap", "required without a connection_string (host:port)")
	} else if _, _, err := net.SplitHostPort(e.Bootstrap); err != nil {
		p.add(path+".bootstrap", "want host:port, e.g. NAMESPACE.servicebus.windows.net:9093")
	}
	if e.Topic == "" {
		p.add(path+".topic", "required without a connection_string that has EntityPath")
	}
	if e.BytesPerSecond < 0 || e.EventsPerSecond < 0 {
		p.add(path, "bytes_per_second and events_per_second must not be negative")
	}
	if e.MaxRequestBytes < 0 || (e.MaxRequestBytes > 0 && e.MaxRequestBytes < 4096) {
		p.add(path+".max_request_bytes", "must be at least 4KiB")
	}
	if e.RequestTimeout < 0 {
		p.add(path+".request_timeout", "must not be negative")
	}
}

func (c *Config) validateDestinations(p *problems, path string, dests []string) {
	seen := map[string]bool{}
	for k, d := range dests {
		if seen[d] {
			p.add(fmt.Sprintf("%s[%d]", path, k), "duplicate destination %q", clip(d))
		}
		seen[d] = true
		if d == DestinationPowerBI {
			continue
		}
		if _, ok := c.Eventstream(d); !ok {
			p.add(fmt.Sprintf("%s[%d]", path, k), "unknown destination %q (want powerbi or the name of an eventstreams entry)", clip(d))
		}
	}
}

package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

func (c *Config) validateSource(p *problems, i int) {
	s := &c.Sources[i]
	path := fmt.Sprintf("sources[%d]", i)
	if s.Table == "" {
		p.add(path+".table", "required (DATASET/TABLE)")
	} else if _, _, err := c.FindTable(s.Table); err != nil {
		p.add(path+".table", "%v", err)
	}
	p.oneOf(path+".format", s.Format, "jsonl", "csv")
	p.oneOf(path+".encoding", s.Encoding, "utf-8", "utf-16", "latin1", "windows-1252")
	if s.Encoding != "" && s.Encoding != DefaultEncoding && s.Type != "file" && s.Type != "stdin" {
		p.add(path+".encoding", "applies to file and stdin sources only (Kafka and HTTP input is UTF-8 JSON)")
	}
	if s.Type != "http" && (s.ReadTimeout != 0 || len(s.AllowedOrigins) > 0 || s.AllowUnauthenticated) {
		p.add(path, "read_timeout, allowed_origins and allow_unauthenticated apply to http sources only")
	}
	switch s.Type {
	case "file":
		if len(s.Paths) == 0 {
			p.add(path+".paths", "required for a file source")
		}
	case "kafka":
		s.validateKafka(p, path)
	case "http":
		s.validateHTTP(p, path)
	case "stdin":
	case "":
		p.add(path+".type", "required (kafka, file, stdin, http)")
	default:
		p.add(path+".type", "unknown type %q (want kafka, file, stdin, http)", clip(s.Type))
	}
}

func (s *Source) validateHTTP(p *problems, path string) {
	if s.ReadTimeout < 0 {
		p.add(path+".read_timeout", "must not be negative")
	}
	for i, o := range s.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			p.add(fmt.Sprintf("%s.allowed_origins[%d]", path, i), "%q is not an origin (want scheme://host[:port])", clip(o))
		}
	}
	if len(s.Tokens) == 0 && !s.AllowUnauthenticated && !LoopbackListen(s.Listen) {
		p.add(path+".listen", "%q listens beyond loopback without tokens: set tokens, or allow_unauthenticated: true to accept any caller", clip(s.Listen))
	}
}

// LoopbackListen reports whether a listen address (host:port, default host 127.0.0.1) binds only
// to the loopback interface.
func LoopbackListen(listen string) bool {
	if listen == "" {
		return true
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = strings.Trim(listen, "[]")
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Source) validateKafka(p *problems, path string) {
	if len(s.Brokers) == 0 {
		p.add(path+".brokers", "required for a kafka source")
	}
	if s.Topic == "" && len(s.Topics) == 0 {
		p.add(path+".topic", "required for a kafka source (topic or topics)")
	}
	p.required(path+".group", s.Group, "for a kafka source")
	p.oneOf(path+".start", s.Start, "earliest", "latest")
	if s.SASL != nil {
		p.oneOf(path+".sasl.mechanism", s.SASL.Mechanism, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
		p.required(path+".sasl.mechanism", s.SASL.Mechanism, "when sasl is set")
		p.required(path+".sasl.username", s.SASL.Username, "when sasl is set")
		p.required(path+".sasl.password", s.SASL.Password, "when sasl is set")
	}
	if s.TLS != nil && (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		p.add(path+".tls", "cert_file and key_file must be set together")
	}
}

// FindTable returns the dataset and table for "DATASET/TABLE". The table name is what follows
// the last "/" (Power BI table names cannot contain "/"; dataset names can).
func (c *Config) FindTable(ref string) (*Dataset, *Table, error) {
	i := strings.LastIndexByte(ref, '/')
	if i <= 0 || i == len(ref)-1 {
		return nil, nil, fmt.Errorf("table %q: want DATASET/TABLE", clip(ref))
	}
	ds, tn := ref[:i], ref[i+1:]
	for di := range c.Datasets {
		d := &c.Datasets[di]
		if d.Name != ds {
			continue
		}
		for ti := range d.Tables {
			if d.Tables[ti].Name == tn {
				return d, &d.Tables[ti], nil
			}
		}
		return nil, nil, fmt.Errorf("table %q: dataset %q has no table %q", clip(ref), clip(ds), clip(tn))
	}
	return nil, nil, fmt.Errorf("table %q: no dataset %q is configured", clip(ref), clip(ds))
}

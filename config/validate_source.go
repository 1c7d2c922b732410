package config

import (
	"fmt"
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
	switch s.Type {
	case "file":
		if len(s.Paths) == 0 {
			p.add(path+".paths", "required for a file source")
		}
	case "kafka":
		s.validateKafka(p, path)
	case "stdin", "http":
	case "":
		p.add(path+".type", "required (kafka, file, stdin, http)")
	default:
		p.add(path+".type", "unknown type %q (want kafka, file, stdin, http)", clip(s.Type))
	}
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

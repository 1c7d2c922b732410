package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestExpand(t *testing.T) {
	env := testEnv(map[string]string{"A": "x", "EMPTY": "", "S": "p: #w"})
	tests := []struct {
		in, want, err string
	}{
		{"plain", "plain", ""},
		{"${A}", "x", ""},
		{"pre-${A}-post", "pre-x-post", ""},
		{"${S}", "p: #w", ""},
		{"$$", "$", ""},
		{"$${A}", "${A}", ""},
		{"cost $5", "cost $5", ""},
		{"end$", "end$", ""},
		{"${MISSING:-dflt}", "dflt", ""},
		{"${EMPTY:-dflt}", "dflt", ""},
		{"${A:-dflt}", "x", ""},
		{"${MISSING:-}", "", ""},
		{"${EMPTY}", "", ""},
		{"${MISSING}", "", "environment variable MISSING is not set"},
		{"${}", "", "invalid variable name"},
		{"${A B}", "", "invalid variable name"},
		{"${A", "", "unterminated ${"},
	}
	for _, tc := range tests {
		got, errs := Expand(tc.in, env)
		if tc.err != "" {
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.err) {
				t.Errorf("Expand(%q) errors = %v, want %q", tc.in, errs, tc.err)
			}
			continue
		}
		if len(errs) != 0 || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.in, got, errs, tc.want)
		}
	}
}

func TestExpandTypes(t *testing.T) {
	src := "auth:\n  token: ${T}\ndatasets:\n- name: ${N}\n  limits:\n    rows_per_post: ${R}\n" +
		"  tables: [{name: t, columns: [{name: c, type: string}]}]\nspool:\n  no_sync: ${B}\n"
	env := testEnv(map[string]string{"T": "null", "N": "'quoted' # not a comment", "R": "500", "B": "true"})
	c, err := parse("x.yaml", []byte(src), env, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Token != "null" || c.Datasets[0].Name != "'quoted' # not a comment" ||
		c.Datasets[0].Limits.RowsPerPost != 500 || !c.Spool.NoSync {
		t.Errorf("got token %q name %q rows %d nosync %v", c.Auth.Token, c.Datasets[0].Name,
			c.Datasets[0].Limits.RowsPerPost, c.Spool.NoSync)
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"1024", 1024, true},
		{"10GiB", 10 << 30, true},
		{"512MB", 512e6, true},
		{"1KiB", 1024, true},
		{"1 kib", 1024, true},
		{"1.5KiB", 1536, true},
		{"2TB", 2e12, true},
		{"7b", 7, true},
		{"0", 0, true},
		{"", 0, false},
		{"GiB", 0, false},
		{"10 lightyears", 0, false},
		{"-1", 0, false},
		{"1.2.3MB", 0, false},
		{"99999999999TiB", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseByteSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1s", time.Second, true},
		{"250ms", 250 * time.Millisecond, true},
		{"1h30m", 90 * time.Minute, true},
		{"0", 0, true},
		{"10", 0, false},
		{"soon", 0, false},
		{"[1s]", 0, false},
	}
	for _, tc := range tests {
		var v struct {
			D Duration `yaml:"d"`
		}
		err := yaml.Unmarshal([]byte("d: "+tc.in), &v)
		if (err == nil) != tc.ok || v.D.D() != tc.want {
			t.Errorf("duration %q = %v, %v; want %v ok=%v", tc.in, v.D, err, tc.want, tc.ok)
		}
	}
	out, err := yaml.Marshal(struct{ D Duration }{Duration(time.Second)})
	if err != nil || strings.TrimSpace(string(out)) != "d: 1s" {
		t.Errorf("marshal = %q, %v", out, err)
	}
}

func TestCheckTableName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"Orders", true},
		{"Sales 2024 #1 - EU_west~@^", true},
		{"Ünïcödé 表", true},
		{strings.Repeat("a", 100), true},
		{strings.Repeat("a", 101), false},
		{"", false},
		{"a.b", false},
		{"a/b", false},
		{"a,b", false},
		{"x\x00", false},
		{"bad\xffutf8", false},
	}
	for _, tc := range tests {
		if err := CheckTableName(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckTableName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestCanonicalType(t *testing.T) {
	for in, want := range map[string]string{
		"int64": "Int64", "INT64": "Int64", "double": "Double", "Decimal": "Decimal", "bool": "Boolean",
		"boolean": "Boolean", "datetime": "DateTime", "dateTime": "DateTime", "string": "String",
		"Strng": "", "": "", "integer": "",
	} {
		got, ok := CanonicalType(in)
		if got != want || ok != (want != "") {
			t.Errorf("CanonicalType(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestFindTable(t *testing.T) {
	c := Default()
	c.Datasets = []Dataset{{Name: "a/b", Tables: []Table{{Name: "T"}}}, {Name: "D", Tables: []Table{{Name: "X"}}}}
	tests := []struct {
		ref, ds, tb, err string
	}{
		{"a/b/T", "a/b", "T", ""},
		{"D/X", "D", "X", ""},
		{"D/Y", "", "", `dataset "D" has no table "Y"`},
		{"E/X", "", "", `no dataset "E" is configured`},
		{"D", "", "", "want DATASET/TABLE"},
		{"D/", "", "", "want DATASET/TABLE"},
		{"/X", "", "", "want DATASET/TABLE"},
	}
	for _, tc := range tests {
		d, tb, err := c.FindTable(tc.ref)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("FindTable(%q) err = %v, want %q", tc.ref, err, tc.err)
			}
			continue
		}
		if err != nil || d.Name != tc.ds || tb.Name != tc.tb {
			t.Errorf("FindTable(%q) = %v, %v, %v", tc.ref, d, tb, err)
		}
	}
}

// TestValidateInCode checks a Config built in code: messages carry the key path, no file or line,
// and every auth method's required fields are enforced.
func TestValidateInCode(t *testing.T) {
	tests := []struct {
		auth Auth
		want string
	}{
		{Auth{}, "auth.token: required for auth method static_token"},
		{Auth{Method: "client_certificate", Tenant: "t"},
			"auth.client_id: required for auth method client_certificate\nauth.certificate: required for auth method client_certificate"},
		{Auth{Method: "username_password", ClientID: "c", Username: "u"}, "auth.password: required for auth method username_password"},
		{Auth{Method: "device_code"}, "auth.client_id: required for auth method device_code"},
		{Auth{Method: "managed_identity"}, ""},
		{Auth{Method: "workload_identity"}, ""},
		{Auth{Method: "client_secret", Tenant: "t", ClientID: "c", ClientSecret: "s", AuthorityURL: "x"}, "auth.authority_url: not an absolute http(s) URL"},
		{Auth{Method: "kerberos"}, `auth.method: unknown method "kerberos"`},
	}
	for _, tc := range tests {
		c := Default()
		c.Auth = tc.auth
		err := c.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, tc.want) || (tc.want == "" && got != "") {
			t.Errorf("auth %+v: got %q, want %q", tc.auth, got, tc.want)
		}
	}
}

func TestValidateLimitsAndCounts(t *testing.T) {
	c := Default()
	c.Auth.Token = "x"
	cols := make([]Column, MaxColumns+1)
	for i := range cols {
		cols[i] = Column{Name: strings.Repeat("c", i+1), Type: "string"}
	}
	tables := make([]Table, MaxTables+1)
	for i := range tables {
		tables[i] = Table{Name: strings.Repeat("t", i+1), Columns: cols[:1]}
	}
	tables[0].Columns = cols
	c.Datasets = []Dataset{{Name: "D", Tables: tables, Limits: Limits{PostsPerMinute: 121, LargeTableRows: 250001}}}
	c.Batch.Linger = Duration(-time.Second)
	c.Spool.MaxBytes = -1
	err := c.Validate()
	for _, want := range []string{
		"batch.linger: must not be negative",
		"spool.max_bytes: must not be negative",
		"datasets[0].tables: 76 tables exceed Power BI's limit of 75 per dataset",
		"datasets[0].tables[0].columns: 76 columns exceed Power BI's limit of 75 per table",
		"datasets[0].limits.posts_per_minute: 121 exceeds Power BI's limit of 120",
		"datasets[0].limits.large_table_rows: 250001 exceeds Power BI's limit of 250000",
	} {
		if err == nil || !strings.Contains(err.Error()+"\n", want+"\n") {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "auth: {token: x}", "a: [", "datasets: [{name: D, tables: [{name: T}]}]",
		"auth:\n  token: ${X:-y}\n  tenant: $${Z}", "spool: {max_bytes: 1.5GiB}", "x: &a {b: 1}\ny: *a", "<<: {}"} {
		f.Add([]byte(s))
	}
	for _, p := range []string{"testdata/full.good.yaml", "testdata/values.bad.yaml", "testdata/unknown_keys.bad.yaml"} {
		f.Add(mustRead(f, p))
	}
	env := testEnv(map[string]string{"X": "secret-value"})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse("f.yaml", data, env, ValidateOptions{})
		if err == nil {
			if c.File != "f.yaml" || c.Validate() != nil {
				t.Fatal("accepted config does not validate")
			}
			return
		}
		if !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

func TestValidateSources(t *testing.T) {
	base := func() *Config {
		c := Default()
		c.Auth.Token = "x"
		c.Datasets = []Dataset{{Name: "D", Tables: []Table{{Name: "T", Columns: []Column{{Name: "c", Type: "string"}}}}}}
		return c
	}
	tests := []struct {
		src  Source
		want string
	}{
		{Source{Type: "kafka", Table: "D/T", Brokers: []string{"b"}, Topics: []string{"t"}, Group: "g"}, ""},
		{Source{Type: "kafka", Table: "D/T", Brokers: []string{"b"}, Topic: "t", Group: "g",
			SASL: &SASL{Mechanism: "PLAIN", Username: "u"}}, "sources[0].sasl.password: required when sasl is set"},
		{Source{Type: "kafka", Table: "D/T", Brokers: []string{"b"}, Topic: "t", Group: "g",
			TLS: &TLS{CertFile: "c.pem"}}, "sources[0].tls: cert_file and key_file must be set together"},
		{Source{Type: "kafka", Table: "D/T", Brokers: []string{"b"}, Topic: "t", Group: "g", Start: "middle"},
			`sources[0].start: unknown value "middle" (want earliest, latest)`},
		{Source{Type: "stdin", Table: "D/T", Format: "csv"}, ""},
		{Source{Type: "http", Table: "D/T"}, ""},
		{Source{Table: "D/T"}, "sources[0].type: required (kafka, file, stdin, http)"},
		{Source{Type: "stdin"}, "sources[0].table: required (DATASET/TABLE)"},
	}
	for _, tc := range tests {
		c := base()
		c.Sources = []Source{tc.src}
		err := c.Validate()
		if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && got != tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.src, err, tc.want)
		}
	}
}

package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testEnv is the environment the testdata files are parsed with.
func testEnv(vars map[string]string) lookupFunc {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

var secrets = []string{"s3cr3t", "kafka-secret", "tok-123", "sec: #ret"}

// badFiles lists every message each bad file must produce, in order, as "LINE: message".
var badFiles = []struct {
	file string
	want []string
}{
	{"duplicate.bad.yaml", []string{
		`3: auth.token: mapping key "token" already defined at line 2`,
	}},
	{"env.bad.yaml", []string{
		`2: environment variable PBI_TOKEN_UNSET_FOR_TEST is not set (use ${PBI_TOKEN_UNSET_FOR_TEST:-default} for a default)`,
		`3: invalid variable name in ${1BAD}`,
		`4: unterminated ${ (write $$ for a literal $)`,
	}},
	{"eventstream.bad.yaml", []string{
		`4: eventstreams[0].name: "powerbi" names the Power BI dataset in destinations; choose another name`,
		`4: eventstreams[0].topic: required without a connection_string that has EntityPath`,
		`7: eventstreams[1].connection_string: connection string: SharedAccessKey (or SharedAccessSignature) is missing`,
		`8: eventstreams[2]: connection_string or auth (Entra ID) is required`,
		`10: eventstreams[2].bootstrap: want host:port, e.g. NAMESPACE.servicebus.windows.net:9093`,
		`11: eventstreams[2].max_request_bytes: must be at least 4KiB`,
		`16: datasets[0].tables[0].destinations[1]: unknown destination "fabric" (want powerbi or the name of an eventstreams entry)`,
		`16: datasets[0].tables[0].destinations[2]: duplicate destination "powerbi"`,
	}},
	// Six different mistakes, all reported in one pass: unknown key, duration, integer type,
	// enumerated value, column type, and a source naming a table that does not exist.
	{"six.bad.yaml", []string{
		`2: powerbi.request_timeout: invalid duration "soon" (want e.g. "1s", "250ms")`,
		`6: spool.when_full: unknown value "sometimes" (want block, drop_oldest)`,
		`10: datasets[0].limits.rows_per_post: want an integer, got a string "lots"`,
		`13: unknown key "colums" in datasets[0].tables[0] (known: columns, destinations, name, on_long_string, unknown_fields)`,
		`15: datasets[0].tables[0].columns[0].type: unknown type "Text" (want Int64, Double, Decimal, Boolean, DateTime, String)`,
		`18: sources[0].table: table "Telemetry/Nope": dataset "Telemetry" has no table "Nope"`,
	}},
	{"syntax.bad.yaml", []string{
		`2: did not find expected key`,
	}},
	{"types.bad.yaml", []string{
		`2: powerbi.request_timeout: invalid duration "10" (want e.g. "1s", "250ms")`,
		`3: powerbi.sequence_numbers: want true or false, got a string "maybe"`,
		`7: spool.max_bytes: invalid size "10 lightyears" (want e.g. 1048576, "512MB", "10GiB")`,
		`9: batch.linger: want a duration such as "1s" or "250ms"`,
		`13: datasets[0].limits.rows_per_post: want an integer, got a string "lots"`,
		`14: datasets[0].tables: want a list, got a mapping`,
		`17: want true or false, got a string "maybe"`,
	}},
	{"unknown_keys.bad.yaml", []string{
		`3: unknown key "clod" in powerbi (known: api_url, ca_file, cloud, read_back, read_back_interval, request_timeout, sequence_numbers, workspace)`,
		`8: unknown key "tabels" in datasets[0] (known: id, limits, mode, name, recreate_missing, retention, tables)`,
		`14: unknown key "requird" in datasets[0].tables[0].columns[0] (known: default, from, layout, name, required, timestamp, type, unix)`,
		`15: unknown key "extra" in the top level (known: admin, auth, batch, datasets, eventstreams, log, powerbi, shutdown_timeout, sources, spool)`,
	}},
	{"values.bad.yaml", []string{
		`2: powerbi.cloud: unknown cloud "mars" (want public, usgov, usgovhigh, usdod, china)`,
		`3: powerbi.api_url: not an absolute http(s) URL`,
		`4: auth.tenant: required for auth method client_secret`,
		`4: auth.client_id: required for auth method client_secret`,
		`8: spool.when_full: unknown value "explode" (want block, drop_oldest)`,
		`11: datasets[0].mode: unknown value "Streaming" (want Push, PushStreaming)`,
		`12: datasets[0].retention: unknown value "forever" (want None, basicFIFO)`,
		`14: datasets[0].limits.rows_per_post: 20000 exceeds Power BI's limit of 10000`,
		`15: datasets[0].limits.pending_posts: must be positive (0 means Power BI's 5)`,
		"17: datasets[0].tables[0].name: table name \"Bad/Name\" contains '/' (not allowed: !\"$%&'()*+,./:;<=>?[\\]`{|})",
		`18: datasets[0].tables[0].unknown_fields: unknown value "keep" (want ignore, reject)`,
		`22: datasets[0].tables[0].columns[0].layout: only allowed on a DateTime column (this one is Int64)`,
		`23: datasets[0].tables[0].columns[1].name: duplicate column name "id" (also columns[0])`,
		`24: datasets[0].tables[0].columns[1].type: unknown type "Strng" (want Int64, Double, Decimal, Boolean, DateTime, String)`,
		`27: datasets[0].tables[0].columns[2].timestamp: unknown value "now" (want ingest)`,
		`28: datasets[0].tables[0].columns[2].unix: unknown value "minutes" (want s, ms, us, ns)`,
		`30: datasets[0].tables[1].columns: at least one column is required`,
		`31: datasets[1].name: duplicate dataset name "Sales" (also datasets[0])`,
		`35: datasets[2].name: required`,
		`40: sources[0].brokers: required for a kafka source`,
		`40: sources[0].topic: required for a kafka source (topic or topics)`,
		`40: sources[0].group: required for a kafka source`,
		`41: sources[0].table: table "Sales/Nope": dataset "Sales" has no table "Nope"`,
		`42: sources[0].format: unknown value "xml" (want jsonl, csv)`,
		`43: sources[0].sasl.username: required when sasl is set`,
		`44: sources[0].sasl.mechanism: unknown value "GSSAPI" (want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)`,
		`46: sources[1].paths: required for a file source`,
		`47: sources[1].table: table "NoSlash": want DATASET/TABLE`,
		`48: sources[2].type: unknown type "ftp" (want kafka, file, stdin, http)`,
		`49: sources[2].table: table "Sales/Bad/Name": no dataset "Sales/Bad" is configured`,
		`51: log.format: unknown value "xml" (want auto, text, json)`,
		`52: log.level: unknown value "loud" (want debug, info, warn, error)`,
	}},
}

func TestParseBad(t *testing.T) {
	env := testEnv(map[string]string{"PBI_SECRET": "sec: #ret"})
	seen := map[string]bool{}
	for _, tc := range badFiles {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			seen[path] = true
			_, err := parse(path, mustRead(t, path), env, ValidateOptions{})
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = path + ":" + w
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error message leaks secret %q", s)
				}
			}
		})
	}
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	for _, f := range files {
		if !seen[f] {
			t.Errorf("%s has no expected-error entry", f)
		}
	}
}

func TestParseGood(t *testing.T) {
	env := testEnv(map[string]string{"PBI_SECRET": "sec: #ret", "PBI_TOKEN": "tok-123"})
	files, _ := filepath.Glob("testdata/*.good.yaml")
	if len(files) < 2 {
		t.Fatalf("found %d good files", len(files))
	}
	for _, f := range files {
		if _, err := parse(f, mustRead(t, f), env, ValidateOptions{}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestParseFull(t *testing.T) {
	path := "testdata/full.good.yaml"
	c, err := parse(path, mustRead(t, path), testEnv(map[string]string{"PBI_SECRET": "a: b # c ${X} $$"}), ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"secret survives", c.Auth.ClientSecret, "a: b # c ${X} $$"},
		{"default for unset var", c.Sources[0].SASL.Password, "changeme"},
		{"max_bytes", c.Spool.MaxBytes, ByteSize(512 << 20)},
		{"linger", c.Batch.Linger.D(), 250 * time.Millisecond},
		{"request_timeout", c.PowerBI.RequestTimeout.D(), 30 * time.Second},
		{"limits", c.Datasets[0].Limits, Limits{5000, 60, 500000, 2, 100, 200000}},
		{"column from", c.Datasets[0].Tables[0].Columns[2].From, "customer.name"},
		{"default value", c.Datasets[0].Tables[0].Columns[1].Default, 0},
		{"format from extension", c.Sources[1].Format, "csv"},
		{"admin off", c.Admin.Listen, "off"},
		{"shutdown", c.ShutdownTimeout.D(), 45 * time.Second},
		{"file", c.File, path},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	path := "testdata/minimal.good.yaml"
	c, err := parse(path, mustRead(t, path), testEnv(map[string]string{"PBI_TOKEN": "tok"}), ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, tb := c.Datasets[0], c.Datasets[0].Tables[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"cloud", c.PowerBI.Cloud, "public"},
		{"request_timeout", c.PowerBI.RequestTimeout.D(), 60 * time.Second},
		{"auth.method", c.Auth.Method, "static_token"},
		{"spool.path", c.Spool.Path, "./pbi-pusher.db"},
		{"spool.max_bytes", c.Spool.MaxBytes, ByteSize(10 << 30)},
		{"spool.when_full", c.Spool.WhenFull, "block"},
		{"batch.linger", c.Batch.Linger.D(), time.Second},
		{"mode", d.Mode, "Push"},
		{"retention", d.Retention, "None"},
		{"limits", d.Limits, Limits{10000, 120, 1000000, 5, 120, 250000}},
		{"unknown_fields", tb.UnknownFields, "ignore"},
		{"on_long_string", tb.OnLongString, "reject"},
		{"file format from .csv", c.Sources[0].Format, "csv"},
		{"kafka format", c.Sources[1].Format, "jsonl"},
		{"kafka start", c.Sources[1].Start, "earliest"},
		{"http listen", c.Sources[2].Listen, "127.0.0.1:8089"},
		{"admin.listen", c.Admin.Listen, "127.0.0.1:9464"},
		{"log.format", c.Log.Format, "auto"},
		{"log.level", c.Log.Level, "info"},
		{"shutdown_timeout", c.ShutdownTimeout.D(), 20 * time.Second},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
	c = Default()
	c.Auth.Token = "t"
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestLoad(t *testing.T) {
	t.Setenv("PBI_TOKEN", "from-env")
	c, err := Load("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Token != "from-env" {
		t.Errorf("token = %q", c.Auth.Token)
	}
	if _, err := Load("testdata/missing.yaml"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) = %v", err)
	}
}

// TestRepoConfigs keeps the repository's example and sample configs loadable.
func TestRepoConfigs(t *testing.T) {
	t.Setenv("PBI_CLIENT_SECRET", "example-secret")
	if _, err := Load("../config.example.yaml"); err != nil {
		t.Errorf("config.example.yaml: %v", err)
	}
	t.Setenv("PBI_TOKEN", "")
	_, err := Load("../test/testdata/sample.yaml")
	if err == nil || !strings.Contains(err.Error(), "auth.token: required for auth method static_token") {
		t.Errorf("sample.yaml without a token: %v", err)
	}
	if _, err := LoadWith("../test/testdata/sample.yaml", ValidateOptions{AllowMissingCredentials: true}); err != nil {
		t.Errorf("sample.yaml, credentials not required: %v", err)
	}
}

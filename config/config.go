// Package config loads, expands, defaults and validates pbi-pusher's YAML configuration.
//
// The key names are a public contract documented in README.md and config.example.yaml.
// Decoding is strict: an unknown key is an error naming the file and line.
package config

import "time"

// Config is the whole configuration file.
type Config struct {
	PowerBI  PowerBI   `yaml:"powerbi"`
	Auth     Auth      `yaml:"auth"`
	Spool    Spool     `yaml:"spool"`
	Batch    Batch     `yaml:"batch"`
	Datasets []Dataset `yaml:"datasets"`
	Sources  []Source  `yaml:"sources"`
	// Eventstreams are Microsoft Fabric Eventstream custom endpoints (Kafka protocol) that
	// tables can be delivered to besides, or instead of, their Power BI dataset.
	Eventstreams []Eventstream `yaml:"eventstreams"`
	Admin        Admin         `yaml:"admin"`
	Log          Log           `yaml:"log"`
	// ShutdownTimeout bounds how long in-flight POSTs may finish after SIGTERM. Default 20s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`

	// File is the path the config was loaded from (not a YAML key).
	File string `yaml:"-"`

	// lines maps key paths to their line in File, for Validate's messages.
	lines lineMap
}

// PowerBI selects the service endpoint.
type PowerBI struct {
	// Cloud is one of public, usgov, usgovhigh, usdod, china. Default public.
	Cloud string `yaml:"cloud"`
	// APIURL overrides the cloud's REST base, e.g. http://127.0.0.1:8080/v1.0/myorg.
	APIURL string `yaml:"api_url"`
	// Workspace is the workspace (group) id; empty means My workspace.
	Workspace string `yaml:"workspace"`
	// CAFile is an extra PEM CA bundle trusted for the API and the authority (TLS-inspecting proxies).
	CAFile string `yaml:"ca_file"`
	// RequestTimeout bounds one HTTP request. Default 60s.
	RequestTimeout Duration `yaml:"request_timeout"`
	// SequenceNumbers sends X-PowerBI-PushData-SequenceNumber per table batch. Default false.
	SequenceNumbers bool `yaml:"sequence_numbers"`
	// ReadBack asks the service for every table's row count (executeQueries) at start and every
	// ReadBackInterval; the large tier is decided from it. Default true; when the service refuses
	// (tenant setting off, 401/403) the local estimate decides.
	ReadBack *bool `yaml:"read_back"`
	// ReadBackInterval is the pause between two counts of every table. Default 30s.
	ReadBackInterval Duration `yaml:"read_back_interval"`
}

// ReadBackOn reports whether read-back is on (default true).
func (p PowerBI) ReadBackOn() bool { return p.ReadBack == nil || *p.ReadBack }

// Auth selects how pbi-pusher obtains a bearer token.
type Auth struct {
	// Method: static_token | client_secret | client_certificate | workload_identity |
	// managed_identity | device_code | username_password. Default static_token.
	Method              string `yaml:"method"`
	Token               string `yaml:"token"`
	Tenant              string `yaml:"tenant"`
	ClientID            string `yaml:"client_id"`
	ClientSecret        string `yaml:"client_secret"`
	Certificate         string `yaml:"certificate"`
	CertificatePassword string `yaml:"certificate_password"`
	Username            string `yaml:"username"`
	Password            string `yaml:"password"`
	// AuthorityURL overrides the cloud's authority host, e.g. https://login.microsoftonline.us.
	AuthorityURL string `yaml:"authority_url"`
	// Scope overrides the cloud's token scope.
	Scope string `yaml:"scope"`
	// TokenCache is the MSAL token cache file (device_code, username_password). Mode 0600.
	TokenCache string `yaml:"token_cache"`
	// FederatedTokenFile overrides AZURE_FEDERATED_TOKEN_FILE for workload_identity.
	FederatedTokenFile string `yaml:"federated_token_file"`
}

// Spool configures the durable bbolt spool.
type Spool struct {
	// Path of the bbolt file. Default ./pbi-pusher.db.
	Path string `yaml:"path"`
	// MaxBytes caps the spool file. Default 10GiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// WhenFull is block (default) or drop_oldest.
	WhenFull string `yaml:"when_full"`
	// NoSync disables fsync (unsafe; for benchmarks). Default false.
	NoSync bool `yaml:"no_sync"`
	// ReserveBytes is disk space ingest leaves free for delivery. Default 8MiB (0 = default).
	ReserveBytes ByteSize `yaml:"reserve_bytes"`
	// DeadLetterMaxBytes caps dead letters; the oldest are evicted (counted). Default a tenth
	// of MaxBytes (0 = default).
	DeadLetterMaxBytes ByteSize `yaml:"dead_letter_max_bytes"`
}

// Batch configures batch shaping.
type Batch struct {
	// Linger is how long a partial batch waits for more rows. Default 1s.
	Linger Duration `yaml:"linger"`
	// LiveReserve is the share of every rate limit a draining backlog leaves to live rows in
	// `run` (never in backfill), in [0, 0.5]. Default DefaultLiveReserve; nil before defaults.
	LiveReserve *float64 `yaml:"live_reserve"`
	// MaxInflightBytes bounds the memory of the POSTs in flight across every dataset (rows taken
	// from the spool plus request bodies). Default 64MiB.
	MaxInflightBytes ByteSize `yaml:"max_inflight_bytes"`
}

// Dataset is one push dataset and its tables.
type Dataset struct {
	Name string `yaml:"name"`
	// ID pins the dataset id; empty means resolve by name (and create when absent).
	ID string `yaml:"id"`
	// Mode is Push (default) or PushStreaming.
	Mode string `yaml:"mode"`
	// Retention is None (default) or basicFIFO.
	Retention string `yaml:"retention"`
	// RecreateMissing recreates the dataset when it disappears from the service. Default false.
	RecreateMissing bool    `yaml:"recreate_missing"`
	Limits          Limits  `yaml:"limits"`
	Tables          []Table `yaml:"tables"`
}

// Limits are the per-dataset service limits pbi-pusher shapes to. Zero means Power BI's default.
type Limits struct {
	RowsPerPost    int `yaml:"rows_per_post"`    // default 10000
	PostsPerMinute int `yaml:"posts_per_minute"` // default 120
	RowsPerHour    int `yaml:"rows_per_hour"`    // default 1000000
	PendingPosts   int `yaml:"pending_posts"`    // default 5
	// PostsPerHourLarge is the POST rate once a retention-None table holds >= LargeTableRows. Default 120.
	PostsPerHourLarge int `yaml:"posts_per_hour_large"`
	// LargeTableRows is the row count that switches to PostsPerHourLarge. Default 250000.
	LargeTableRows int `yaml:"large_table_rows"`
}

// Table is one table of a dataset.
type Table struct {
	Name    string   `yaml:"name"`
	Columns []Column `yaml:"columns"`
	// UnknownFields is ignore (default) or reject.
	UnknownFields string `yaml:"unknown_fields"`
	// OnLongString is reject (default) or truncate, for strings over 4,000 characters.
	OnLongString string `yaml:"on_long_string"`
	// Destinations lists where the table's rows go: "powerbi" (the dataset) and/or names of
	// eventstreams entries. Default [powerbi].
	Destinations []string `yaml:"destinations"`
}

// Column is one column of a table.
type Column struct {
	Name string `yaml:"name"`
	// Type is Int64, Double, Decimal, Boolean, DateTime or String (case-insensitive; bool/string aliases).
	Type string `yaml:"type"`
	// From is a dotted path or JSON pointer into the input record. Default: the column name.
	From     string `yaml:"from"`
	Default  any    `yaml:"default"`
	Required bool   `yaml:"required"`
	// Timestamp "ingest" fills the column with the time the row was read.
	Timestamp string `yaml:"timestamp"`
	// Layout is a Go time layout for DateTime inputs.
	Layout string `yaml:"layout"`
	// Unix is s|ms|us|ns for numeric DateTime inputs.
	Unix string `yaml:"unix"`
}

// Source is one input of `pbi-pusher run`. Fields apply per Type.
type Source struct {
	// Type is kafka | file | stdin | http.
	Type string `yaml:"type"`
	// Table is DATASET/TABLE the rows go to.
	Table string `yaml:"table"`
	// Format is jsonl (default) or csv.
	Format string `yaml:"format"`
	// Encoding (file, stdin) is the text encoding: utf-8 (default), utf-16, latin1 or
	// windows-1252. A byte order mark at the start of the input wins.
	Encoding string `yaml:"encoding"`

	// file
	Paths  []string `yaml:"paths"`
	Follow bool     `yaml:"follow"`

	// kafka
	Brokers []string `yaml:"brokers"`
	Topic   string   `yaml:"topic"`
	Topics  []string `yaml:"topics"`
	Group   string   `yaml:"group"`
	Start   string   `yaml:"start"` // earliest (default) | latest
	TLS     *TLS     `yaml:"tls"`
	SASL    *SASL    `yaml:"sasl"`
	// MaxLead bounds how far the source reads ahead of delivery: the table's spooled rows not yet
	// posted stay under this much of the instance's share of the dataset's rate (default 2m) and
	// under MaxLeadRows (default 100000), so a backlog stays in Kafka, where a rebalance can move
	// it to whoever joins. Never below two full POSTs.
	MaxLead     Duration `yaml:"max_lead"`
	MaxLeadRows int      `yaml:"max_lead_rows"`

	// http
	Listen string   `yaml:"listen"` // default 127.0.0.1:8089
	Tokens []string `yaml:"tokens"`
	// ReadTimeout bounds reading one request's whole body. Default 30s.
	ReadTimeout Duration `yaml:"read_timeout"`
	// AllowedOrigins lists the browser origins (scheme://host[:port]) whose requests are accepted;
	// a request with any other Origin header is refused (403). Default: none.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowUnauthenticated permits listening beyond loopback without tokens. Default false.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
}

// TLS configures a client TLS connection.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL configures Kafka SASL authentication.
type SASL struct {
	Mechanism string `yaml:"mechanism"` // PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// Admin configures the admin HTTP server (/metrics, /healthz, /readyz, /status).
type Admin struct {
	// Listen address. Default 127.0.0.1:9464; "off" disables it.
	Listen string `yaml:"listen"`
	// TokenFile holds the bearer token the mutating admin endpoints (dead-letter replay and
	// purge) require. Without it they are allowed only on a loopback listen address.
	TokenFile string `yaml:"token_file"`
}

// Log configures log/slog output.
type Log struct {
	Format string `yaml:"format"` // auto (default: text on a terminal, JSON otherwise) | text | json
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
}

// Duration is a time.Duration that unmarshals from "1s", "250ms", etc.
type Duration time.Duration

// ByteSize is a size in bytes that unmarshals from 1024, "10GiB", "512MB", etc.
type ByteSize int64

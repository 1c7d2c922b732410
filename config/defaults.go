package config

import (
	"path/filepath"
	"strings"
	"time"
)

// Defaults for the keys documented in config.go.
const (
	DefaultCloud           = "public"
	DefaultRequestTimeout  = 60 * time.Second
	DefaultAuthMethod      = "static_token"
	DefaultSpoolPath       = "./pbi-pusher.db"
	DefaultSpoolMaxBytes   = ByteSize(10 << 30)
	DefaultMaxInflight     = ByteSize(64 << 20)
	DefaultWhenFull        = "block"
	DefaultLinger          = time.Second
	DefaultMode            = "Push"
	DefaultRetention       = "None"
	DefaultUnknownFields   = "ignore"
	DefaultOnLongString    = "reject"
	DefaultFormat          = "jsonl"
	DefaultStart           = "earliest"
	DefaultHTTPListen      = "127.0.0.1:8089"
	DefaultEncoding        = "utf-8"
	DefaultHTTPReadTimeout = 30 * time.Second
	DefaultAdminListen     = "127.0.0.1:9464"
	DefaultLogFormat       = "auto"
	DefaultLogLevel        = "info"
	DefaultShutdownTimeout = 20 * time.Second
	DefaultMaxLead         = 2 * time.Minute
	DefaultMaxLeadRows     = 100000
)

// DefaultLiveReserve is batch.live_reserve. A backlog drains greedily: it spends the rolling
// hour's whole budget in its first minute, so without a reserve, rows arriving live on any table
// of the dataset would then wait up to an hour for the window to move. A tenth keeps 100,000 rows
// per hour (28 rows/s sustained, more than a typical dashboard feed), 12 POSTs per minute (12 per
// hour in the large tier) and one of the 5 pending slots for live rows, while a backlog still
// drains at 90% of the ceiling and a backlog under 900,000 rows still goes out at once. A larger
// reserve slows every catch-up for a live rate few feeds reach; a smaller one leaves too few
// POSTs to keep a 1 row/s trickle within linger. Backfill has no live rows and keeps no reserve.
const DefaultLiveReserve = 0.1

// MaxLiveReserve bounds batch.live_reserve: a backlog always keeps at least half of the limits.
const MaxLiveReserve = 0.5

// ServiceLimits are Power BI's push-dataset limits (shared/pbi-api.md §3). They are the defaults
// and the maxima for Dataset.Limits.
var ServiceLimits = Limits{
	RowsPerPost:       10000,
	PostsPerMinute:    120,
	RowsPerHour:       1000000,
	PendingPosts:      5,
	PostsPerHourLarge: 120,
	LargeTableRows:    250000,
}

// Default returns a Config with every default applied (no datasets, no sources).
func Default() *Config {
	c := &Config{}
	c.ApplyDefaults()
	return c
}

// ApplyDefaults fills zero values with defaults (called by Load/Parse).
func (c *Config) ApplyDefaults() {
	setString(&c.PowerBI.Cloud, DefaultCloud)
	setDuration(&c.PowerBI.RequestTimeout, DefaultRequestTimeout)
	setString(&c.Auth.Method, DefaultAuthMethod)
	setString(&c.Spool.Path, DefaultSpoolPath)
	if c.Spool.MaxBytes == 0 {
		c.Spool.MaxBytes = DefaultSpoolMaxBytes
	}
	setString(&c.Spool.WhenFull, DefaultWhenFull)
	setDuration(&c.Batch.Linger, DefaultLinger)
	if c.Batch.MaxInflightBytes == 0 {
		c.Batch.MaxInflightBytes = DefaultMaxInflight
	}
	if c.Batch.LiveReserve == nil {
		r := DefaultLiveReserve
		c.Batch.LiveReserve = &r
	}
	for i := range c.Datasets {
		c.Datasets[i].applyDefaults()
	}
	for i := range c.Sources {
		c.Sources[i].applyDefaults()
	}
	for i := range c.Eventstreams {
		c.Eventstreams[i].applyDefaults()
	}
	setString(&c.Admin.Listen, DefaultAdminListen)
	setString(&c.Log.Format, DefaultLogFormat)
	setString(&c.Log.Level, DefaultLogLevel)
	setDuration(&c.ShutdownTimeout, DefaultShutdownTimeout)
}

func (d *Dataset) applyDefaults() {
	setString(&d.Mode, DefaultMode)
	setString(&d.Retention, DefaultRetention)
	l, s := &d.Limits, ServiceLimits
	setInt(&l.RowsPerPost, s.RowsPerPost)
	setInt(&l.PostsPerMinute, s.PostsPerMinute)
	setInt(&l.RowsPerHour, s.RowsPerHour)
	setInt(&l.PendingPosts, s.PendingPosts)
	setInt(&l.PostsPerHourLarge, s.PostsPerHourLarge)
	setInt(&l.LargeTableRows, s.LargeTableRows)
	for i := range d.Tables {
		setString(&d.Tables[i].UnknownFields, DefaultUnknownFields)
		setString(&d.Tables[i].OnLongString, DefaultOnLongString)
	}
}

func (s *Source) applyDefaults() {
	if s.Format == "" && s.Type == "file" {
		s.Format, _ = formatOfPaths(s.Paths)
	}
	setString(&s.Format, DefaultFormat)
	switch s.Type {
	case "kafka":
		setString(&s.Start, DefaultStart)
		if s.MaxLead <= 0 {
			s.MaxLead = Duration(DefaultMaxLead)
		}
		if s.MaxLeadRows <= 0 {
			s.MaxLeadRows = DefaultMaxLeadRows
		}
	case "http":
		setString(&s.Listen, DefaultHTTPListen)
		setDuration(&s.ReadTimeout, DefaultHTTPReadTimeout)
	case "file", "stdin":
		setString(&s.Encoding, DefaultEncoding)
	}
}

// formatOfPaths returns the format every path's extension agrees on.
func formatOfPaths(paths []string) (string, bool) {
	format := ""
	for _, p := range paths {
		f, ok := FormatFromPath(p)
		if !ok || (format != "" && f != format) {
			return "", false
		}
		format = f
	}
	return format, format != ""
}

// FormatFromPath guesses an input format from a file extension: .jsonl, .ndjson, .json → jsonl;
// .csv → csv (case-insensitive; a trailing .gz is not understood).
func FormatFromPath(path string) (string, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".ndjson", ".json":
		return "jsonl", true
	case ".csv":
		return "csv", true
	}
	return "", false
}

func setString(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setDuration(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

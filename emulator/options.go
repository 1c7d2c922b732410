package emulator

import (
	"io"
	"log/slog"
	"time"
)

// Power BI defaults for the push-dataset limits (see ../shared/pbi-api.md §3).
const (
	DefaultRowsPerPost       = 10000
	DefaultPostsPerMinute    = 120
	DefaultPostsPerHourLarge = 120
	DefaultLargeTableRows    = 250000
	DefaultRowsPerHour       = 1000000
	DefaultPendingPosts      = 5
	DefaultFIFORows          = 200000
	DefaultMaxTableRows      = 5000000
	DefaultMaxBodyBytes      = 16 << 20
	DefaultMaxStringLen      = 4000
	DefaultMaxTables         = 75
	DefaultMaxColumns        = 75
	DefaultMaxRelationships  = 75
)

// Options configure a Server. Every zero limit means the Power BI default.
type Options struct {
	RowsPerPost       int   // rows in one POST rows request (400 above it)
	PostsPerMinute    int   // POST rows per rolling minute per dataset
	PostsPerHourLarge int   // POST rows per rolling hour once a None table holds >= LargeTableRows
	LargeTableRows    int   // rows in a retention-None table that switch the dataset to the hourly tier
	RowsPerHour       int   // rows per rolling hour per dataset
	PendingPosts      int   // concurrent (in-flight) POST rows per dataset
	FIFORows          int   // rows kept per basicFIFO table (newest win)
	MaxTableRows      int   // rows a retention-None table may hold
	MaxBodyBytes      int64 // request body cap (413 above it)
	MaxStringLen      int   // characters (UTF-16 code units) per String value
	MaxTables         int   // tables per dataset
	MaxColumns        int   // columns per table
	MaxRelationships  int   // relationships per dataset
	QueriesPerMinute  int   // executeQueries requests per rolling minute per user (bearer token)

	// Fault injection, applied to POST rows only. Rates are probabilities in [0,1].
	FailRate     float64       // share answered 500 (nothing stored)
	ThrottleRate float64       // share answered 429 reason "injected", Retry-After 1 (nothing stored)
	SlowRate     float64       // share delayed by SlowDelay before being handled
	SlowDelay    time.Duration // delay of a slow response (default 2s when SlowRate > 0)
	DropRate     float64       // share stored, then the connection is closed with no response
	Seed         uint64        // seed of the fault-injection randomness

	// Workspaces are created at start (ids must be uuids). Requests to any other workspace id
	// are answered 404 PowerBIEntityNotFound, as the live service answers them.
	Workspaces []Workspace

	// StrictTypes refuses strings for Int64, Double, Decimal and Boolean columns; by default a
	// string that converts ("123", "1.5", "true") is accepted and stored converted.
	StrictTypes bool

	// ThrottleBody is the body shape of a 429: "" or ThrottleBodyMessage for the captured live
	// body {"message":"…"}, ThrottleBodyError for {"error":{"code":"TooManyRequests","message":"…"}}.
	ThrottleBody string

	// RejectRowsContaining makes any row with a string value containing it invalid (400).
	RejectRowsContaining string

	// Now is the clock of every rolling window (nil = time.Now).
	Now func() time.Time

	// Tokens are accepted static bearer tokens. ValidateToken, if set, accepts tokens too.
	// If both are empty any non-empty bearer token is accepted. A refused token is answered
	// 403 TokenExpired when ExpiredToken reports it as a known but expired token (what the
	// live service answers for an expired token), else 401 PowerBINotAuthorizedException.
	Tokens        []string
	ValidateToken func(token string) bool
	ExpiredToken  func(token string) bool

	// Logger receives lifecycle and per-request debug logs (nil = discard). Tokens are never logged.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.RowsPerPost, DefaultRowsPerPost)
	def(&o.PostsPerMinute, DefaultPostsPerMinute)
	def(&o.PostsPerHourLarge, DefaultPostsPerHourLarge)
	def(&o.LargeTableRows, DefaultLargeTableRows)
	def(&o.RowsPerHour, DefaultRowsPerHour)
	def(&o.PendingPosts, DefaultPendingPosts)
	def(&o.FIFORows, DefaultFIFORows)
	def(&o.MaxTableRows, DefaultMaxTableRows)
	def(&o.MaxStringLen, DefaultMaxStringLen)
	def(&o.MaxTables, DefaultMaxTables)
	def(&o.MaxColumns, DefaultMaxColumns)
	def(&o.MaxRelationships, DefaultMaxRelationships)
	def(&o.QueriesPerMinute, DefaultQueriesPerMinute)
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.SlowDelay <= 0 {
		o.SlowDelay = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

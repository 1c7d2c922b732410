package emulator

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Throttle reasons, the keys of DatasetStats.Throttles.
const (
	ReasonPostsPerMinute = "posts_per_minute"
	ReasonPostsPerHour   = "posts_per_hour"
	ReasonRowsPerHour    = "rows_per_hour"
	ReasonPending        = "pending"
	ReasonInjected       = "injected"
	// ReasonQueriesPerMinute counts executeQueries 429s (120 query requests per minute per user).
	ReasonQueriesPerMinute = "queries_per_minute"
)

// Limits a request can exceed without a 429, the other keys of DatasetStats.Violations.
const (
	LimitRowsPerPost  = "rows_per_post"
	LimitBodyBytes    = "body_bytes"
	LimitTableRows    = "table_rows"
	LimitStringLength = "string_length"
)

// noteViolationLocked counts a request refused for exceeding a limit that is not a 429.
func (d *dataset) noteViolationLocked(aerr *apiError) {
	if aerr != nil && aerr.limit != "" && aerr.status != http.StatusTooManyRequests {
		d.stats.violations[aerr.limit]++
	}
}

// admitLocked checks the rolling windows for one POST of n rows at now. When a window is full
// it counts the throttle and returns a 429 whose Retry-After is the ceiling of the seconds
// until every window admits the request.
func (s *Server) admitLocked(d *dataset, now time.Time, n int64) *apiError {
	wait, reason := d.postsMin.wait(now, 1, int64(s.o.PostsPerMinute)), ReasonPostsPerMinute
	if d.largeTier(s.o.LargeTableRows) {
		if w := d.postsHour.wait(now, 1, int64(s.o.PostsPerHourLarge)); w > wait {
			wait, reason = w, ReasonPostsPerHour
		}
	}
	if w := d.rowsHour.wait(now, n, int64(s.o.RowsPerHour)); w > wait {
		wait, reason = w, ReasonRowsPerHour
	}
	if wait <= 0 {
		return nil
	}
	d.stats.throttles[reason]++
	secs := retryAfterSeconds(wait)
	s.o.Logger.Debug("post rows throttled", "dataset", d.id, "reason", reason, "retry_after", secs)
	return &apiError{status: http.StatusTooManyRequests, code: CodeTooManyRequest,
		msg: throttleMessage(reason, secs), retryAfter: secs}
}

func throttleMessage(reason string, secs int64) string {
	if reason == ReasonRowsPerHour {
		return "You are over your rows per hour limit for this dataset. To push more rows per hour, " +
			"upgrade your account to Power BI Pro or retry your push later."
	}
	return fmt.Sprintf("You have exceeded the amount of requests allowed in the current time frame "+
		"and further requests will fail. Retry in %d seconds.", secs)
}

func itoa(n int) string { return strconv.Itoa(n) }

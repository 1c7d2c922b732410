package emulator_test

import (
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
)

func throttled(advance time.Duration, body, retryAfter string) step {
	return step{advance: advance, method: "POST", path: rowsPath, body: body, status: 429, retryAfter: retryAfter}
}

func posted(advance time.Duration, body string) step {
	return step{advance: advance, method: "POST", path: rowsPath, body: body, status: 200}
}

func limitCases() []conformanceCase {
	s := time.Second
	return []conformanceCase{
		{name: "posts per minute", opts: emulator.Options{PostsPerMinute: 3},
			steps: []step{posted(0, rows(1)), posted(10*s, rows(1)), posted(10*s, rows(1)),
				throttled(10*s, rows(1), "30"), throttled(29500*time.Millisecond, rows(1), "1"),
				posted(500*time.Millisecond, rows(1)), throttled(0, rows(1), "10")},
			throttles: map[string]int64{"posts_per_minute": 3}},
		{name: "posts per minute default 120", steps: []step{
			{method: "POST", path: rowsPath, body: rows(1), times: 120, status: 200}, throttled(0, rows(1), "60"),
			throttled(59*s, rows(1), "1"), posted(s, rows(1))},
			throttles: map[string]int64{"posts_per_minute": 2}},
		{name: "posts per minute is per dataset", opts: emulator.Options{PostsPerMinute: 1},
			steps:     []step{posted(0, rows(1)), ok("POST", "groups/{g}/datasets/{gds}/tables/Sales/rows", rows(1), 200), throttled(0, rows(1), "60")},
			throttles: map[string]int64{"posts_per_minute": 1}},
		{name: "rows per hour", opts: emulator.Options{RowsPerHour: 10},
			steps: []step{posted(0, rows(6)), posted(10*time.Minute, rows(4)), throttled(10*time.Minute, rows(1), "2400"),
				throttled(0, rows(5), "2400"), throttled(0, rows(10), "3000"), posted(40*time.Minute, rows(6)),
				throttled(0, rows(1), "600")},
			throttles: map[string]int64{"rows_per_hour": 4}},
		{name: "rows per hour larger than the limit", opts: emulator.Options{RowsPerHour: 3, RowsPerPost: 5},
			steps: []step{throttled(0, rows(4), "3600")}, throttles: map[string]int64{"rows_per_hour": 1}},
		{name: "large None table switches to posts per hour", opts: emulator.Options{LargeTableRows: 5, PostsPerHourLarge: 2, PostsPerMinute: 100},
			retention: "None",
			steps: []step{{method: "POST", path: rowsPath, body: rows(1), times: 5, status: 200},
				throttled(2*time.Minute, rows(1), "3480"), posted(58*time.Minute, rows(1)), posted(0, rows(1)),
				throttled(0, rows(1), "3600")},
			throttles: map[string]int64{"posts_per_hour": 2}},
		{name: "basicFIFO table never switches", opts: emulator.Options{LargeTableRows: 5, PostsPerHourLarge: 1, FIFORows: 5, PostsPerMinute: 100},
			retention: "basicFIFO",
			steps:     []step{{method: "POST", path: rowsPath, body: rows(3), times: 10, status: 200}}},
		{name: "None table cap", opts: emulator.Options{MaxTableRows: 5}, retention: "None",
			steps: []step{posted(0, rows(5)), fail("POST", rowsPath, rows(1), 400, "RowsLimitExceeded"),
				ok("DELETE", rowsPath, "", 200), posted(0, rows(5))}},
		{name: "delete rows leaves the hourly tier", opts: emulator.Options{LargeTableRows: 2, PostsPerHourLarge: 1, PostsPerMinute: 100},
			steps:     []step{posted(0, rows(2)), throttled(0, rows(1), "3600"), ok("DELETE", rowsPath, "", 200), posted(0, rows(1))},
			throttles: map[string]int64{"posts_per_hour": 1}},
		{name: "rejected rows count as posts", opts: emulator.Options{PostsPerMinute: 2},
			steps:     []step{fail("POST", rowsPath, row(`"Nope":1`), 400, "BadRequest"), posted(0, rows(1)), throttled(0, row(`"Nope":1`), "60")},
			throttles: map[string]int64{"posts_per_minute": 1}},
	}
}

func faultCases() []conformanceCase {
	return []conformanceCase{
		{name: "injected throttle", opts: emulator.Options{ThrottleRate: 1},
			steps: []step{throttled(0, rows(1), "1")}, throttles: map[string]int64{"injected": 1}},
		{name: "injected failure", opts: emulator.Options{FailRate: 1},
			steps: []step{fail("POST", rowsPath, rows(1), 500, "InternalServerError")}},
		{name: "faults only hit POST rows", opts: emulator.Options{FailRate: 1},
			steps: []step{ok("GET", "datasets/{ds}/tables", "", 200), ok("DELETE", rowsPath, "", 200)}},
	}
}

package emulator_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

const group = "0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

// step is one request of a conformance case. In path, {ds} is the fixture dataset in My
// workspace, {gds} the fixture dataset in workspace {g}.
type step struct {
	advance    time.Duration // virtual time to pass before the request
	method     string
	path       string
	body       string
	token      string // "" = the emulator's token; "-" = no Authorization header
	times      int    // send it this many times (default 1), each expecting the same answer
	status     int
	code       string // expected error.code ("" = none expected)
	retryAfter string // expected Retry-After ("" = header absent)
}

type conformanceCase struct {
	name      string
	opts      emulator.Options
	retention string // fixture retention policy query value
	steps     []step
	throttles map[string]int64 // expected throttle counts of the My-workspace fixture (nil = none)
}

func TestConformance(t *testing.T) {
	for _, tc := range conformanceCases() {
		t.Run(tc.name, func(t *testing.T) { runCase(t, tc) })
	}
}

func runCase(t *testing.T, tc conformanceCase) {
	clk := newClock()
	tc.opts.Now = clk.Now
	tc.opts.Workspaces = append(tc.opts.Workspaces, emulator.Workspace{ID: group, Name: "Conformance"})
	e := emulatortest.Start(t, tc.opts)
	q := ""
	if tc.retention != "" {
		q = "?defaultRetentionPolicy=" + tc.retention
	}
	ds := create(t, e, "datasets"+q, fixtureBody("Fixture"))
	gds := create(t, e, "groups/"+group+"/datasets"+q, fixtureBody("GroupFixture"))
	expand := strings.NewReplacer("{ds}", ds, "{gds}", gds, "{g}", group)
	for i, s := range tc.steps {
		clk.Advance(s.advance)
		token := e.Token
		switch s.token {
		case "-":
			token = ""
		case "":
		default:
			token = s.token
		}
		for n := range max(s.times, 1) {
			r := call(t, e, s.method, expand.Replace(s.path), s.body, token)
			if r.status != s.status || r.code != s.code || r.retryAfter != s.retryAfter {
				t.Fatalf("step %d (%s %s) #%d: got %d code=%q Retry-After=%q, want %d code=%q Retry-After=%q; body %.300s",
					i, s.method, s.path, n, r.status, r.code, r.retryAfter, s.status, s.code, s.retryAfter, r.body)
			}
			if r.status == 429 {
				checkBareThrottle(t, r)
			}
		}
	}
	checkThrottles(t, e.Server, tc.throttles)
}

func checkThrottles(t *testing.T, srv *emulator.Server, want map[string]int64) {
	t.Helper()
	got := srv.DatasetsByName("Fixture")
	if len(got) != 1 {
		t.Fatalf("DatasetsByName(Fixture) = %d datasets, want 1", len(got))
	}
	if want == nil {
		want = map[string]int64{}
	}
	if !maps.Equal(got[0].Throttles, want) {
		t.Fatalf("throttles = %v, want %v", got[0].Throttles, want)
	}
}

func conformanceCases() []conformanceCase {
	var all []conformanceCase
	for _, part := range [][]conformanceCase{endpointCases(), authCases(), schemaCases(), valueCases(), limitCases(), faultCases()} {
		all = append(all, part...)
	}
	return all
}

const rowsPath = "datasets/{ds}/tables/Sales/rows"

func ok(method, path, body string, status int) step {
	return step{method: method, path: path, body: body, status: status}
}

func fail(method, path, body string, status int, code string) step {
	return step{method: method, path: path, body: body, status: status, code: code}
}

func endpointCases() []conformanceCase {
	one := func(name string, steps ...step) conformanceCase { return conformanceCase{name: name, steps: steps} }
	return []conformanceCase{
		one("create in My workspace", ok("POST", "datasets", fixtureBody("A"), 201)),
		one("create in group", ok("POST", "groups/{g}/datasets", fixtureBody("A"), 201)),
		one("create basicFIFO", ok("POST", "datasets?defaultRetentionPolicy=basicFIFO", fixtureBody("A"), 201)),
		one("create retention None", ok("POST", "groups/{g}/datasets?defaultRetentionPolicy=None", fixtureBody("A"), 201)),
		one("create unknown retention", fail("POST", "datasets?defaultRetentionPolicy=forever", fixtureBody("A"), 400, "BadRequest")),
		one("create PushStreaming", ok("POST", "datasets", strings.Replace(fixtureBody("A"), `"Push"`, `"PushStreaming"`, 1), 201)),
		one("create Streaming", ok("POST", "datasets", strings.Replace(fixtureBody("A"), `"Push"`, `"Streaming"`, 1), 201)),
		one("create unknown mode", fail("POST", "datasets", strings.Replace(fixtureBody("A"), `"Push"`, `"Batch"`, 1), 400, "BadRequest")),
		one("create malformed JSON", fail("POST", "datasets", `{"name":`, 400, "BadRequest")),
		one("create without tables", fail("POST", "datasets", `{"name":"A"}`, 400, "BadRequest")),
		one("list", ok("GET", "datasets", "", 200), ok("GET", "groups/{g}/datasets", "", 200)),
		one("get", ok("GET", "datasets/{ds}", "", 200), ok("GET", "groups/{g}/datasets/{gds}", "", 200)),
		one("get unknown", fail("GET", "datasets/00000000-0000-0000-0000-000000000000", "", 404, "ItemNotFound")),
		one("get from another workspace", fail("GET", "datasets/{gds}", "", 404, "ItemNotFound"),
			fail("GET", "groups/{g}/datasets/{ds}", "", 404, "ItemNotFound")),
		one("delete", ok("DELETE", "groups/{g}/datasets/{gds}", "", 200),
			fail("GET", "groups/{g}/datasets/{gds}", "", 404, "ItemNotFound"),
			fail("DELETE", "groups/{g}/datasets/{gds}", "", 404, "ItemNotFound")),
		one("list tables", ok("GET", "datasets/{ds}/tables", "", 200), ok("GET", "groups/{g}/datasets/{gds}/tables", "", 200)),
		one("list tables unknown dataset", fail("GET", "datasets/nope/tables", "", 404, "ItemNotFound")),
		one("put table", ok("PUT", "datasets/{ds}/tables/Other", `{"name":"Other","columns":[{"name":"X","dataType":"Int64"},{"name":"Y","dataType":"String"}]}`, 200),
			ok("POST", "datasets/{ds}/tables/Other/rows", row(`"X":1,"Y":"new column"`), 200)),
		one("put table in group", ok("PUT", "groups/{g}/datasets/{gds}/tables/Other", `{"name":"Other","columns":[{"name":"Z","dataType":"Double"}]}`, 200),
			fail("POST", "groups/{g}/datasets/{gds}/tables/Other/rows", row(`"X":1`), 400, "BadRequest")),
		one("put unknown table cannot add it", fail("PUT", "datasets/{ds}/tables/New", `{"name":"New","columns":[{"name":"X","dataType":"Int64"}]}`, 404, "ItemNotFound")),
		one("put table name mismatch", fail("PUT", "datasets/{ds}/tables/Other", `{"name":"Sales","columns":[{"name":"X","dataType":"Int64"}]}`, 400, "BadRequest")),
		one("put table bad type", fail("PUT", "datasets/{ds}/tables/Other", `{"name":"Other","columns":[{"name":"X","dataType":"Int32"}]}`, 400, "BadRequest")),
		one("post rows", ok("POST", rowsPath, rows(3), 200), ok("POST", "groups/{g}/datasets/{gds}/tables/Sales/rows", rows(3), 200)),
		one("post rows unknown table", fail("POST", "datasets/{ds}/tables/Nope/rows", rows(1), 404, "ItemNotFound")),
		one("post rows unknown dataset", fail("POST", "datasets/nope/tables/Sales/rows", rows(1), 404, "ItemNotFound")),
		one("post rows non-push dataset", ok("POST", "datasets", strings.Replace(fixtureBody("A"), `"Push"`, `"AsAzure"`, 1), 201)),
		one("delete rows", ok("POST", rowsPath, rows(3), 200), ok("DELETE", rowsPath, "", 200),
			ok("DELETE", "groups/{g}/datasets/{gds}/tables/Sales/rows", "", 200)),
		one("delete rows unknown table", fail("DELETE", "datasets/{ds}/tables/Nope/rows", "", 404, "ItemNotFound")),
	}
}

func authCases() []conformanceCase {
	na := "PowerBINotAuthorizedException"
	return []conformanceCase{
		{name: "no token", steps: []step{{method: "GET", path: "datasets", token: "-", status: 401, code: na},
			{method: "POST", path: rowsPath, body: rows(1), token: "-", status: 401, code: na}}},
		{name: "wrong token", steps: []step{{method: "GET", path: "datasets", token: "wrong", status: 401, code: na}}},
		{name: "static tokens", opts: emulator.Options{Tokens: []string{"t1", "t2"}},
			steps: []step{{method: "GET", path: "datasets", token: "t2", status: 200}, {method: "GET", path: "datasets", token: "t3", status: 401, code: na}}},
		{name: "validator", opts: emulator.Options{Tokens: []string{"t1"}, ValidateToken: func(s string) bool { return s == "jwt" }},
			steps: []step{{method: "GET", path: "datasets", token: "jwt", status: 200}, {method: "GET", path: "datasets", token: "expired", status: 401, code: na}}},
	}
}

// tables returns a create body with n tables of cols columns each.
func tables(n, cols int) string {
	var ts []string
	for i := range n {
		var cs []string
		for j := range cols {
			cs = append(cs, fmt.Sprintf(`{"name":"c%d","dataType":"Int64"}`, j))
		}
		ts = append(ts, fmt.Sprintf(`{"name":"t%d","columns":[%s]}`, i, strings.Join(cs, ",")))
	}
	return `{"name":"Many","tables":[` + strings.Join(ts, ",") + `]}`
}

func table(name, cols string) string {
	return `{"name":"A","tables":[{"name":` + name + `,"columns":[` + cols + `]}]}`
}

func schemaCases() []conformanceCase {
	c := `{"name":"X","dataType":"Int64"}`
	steps := []step{
		ok("POST", "datasets", table(`"`+strings.Repeat("a", 100)+`"`, c), 201),
		fail("POST", "datasets", table(`"`+strings.Repeat("a", 101)+`"`, c), 400, "BadRequest"),
		fail("POST", "datasets", table(`""`, c), 400, "BadRequest"),
		ok("POST", "datasets", table(`"Sales #1 - EU_2026 ~ @x^y\tz"`, c), 201),
		ok("POST", "datasets", table(`"Ünïcödé 表"`, c), 201),
		ok("POST", "datasets", tables(75, 75), 201),
		fail("POST", "datasets", tables(76, 1), 400, "BadRequest"),
		fail("POST", "datasets", tables(1, 76), 400, "BadRequest"),
		fail("POST", "datasets", table(`"T"`, ""), 400, "BadRequest"),
		fail("POST", "datasets", table(`"T"`, `{"name":"X","dataType":"Int32"}`), 400, "BadRequest"),
		fail("POST", "datasets", table(`"T"`, `{"name":"X","datatype":"Int64"}`), 400, "BadRequest"),
		fail("POST", "datasets", table(`"T"`, `{"name":"","dataType":"Int64"}`), 400, "BadRequest"),
		fail("POST", "datasets", table(`"T"`, c+`,{"name":"x","dataType":"Double"}`), 400, "BadRequest"),
		fail("POST", "datasets", `{"name":"A","tables":[{"name":"T","columns":[`+c+`]},{"name":"t","columns":[`+c+`]}]}`, 400, "BadRequest"),
		fail("POST", "datasets", `{"name":"A","compatibilityLevel":1,"tables":[{"name":"T","columns":[`+c+`]}]}`, 400, "BadRequest"),
		ok("POST", "datasets", table(`"T"`, `{"name":"a","dataType":"INT64"},{"name":"b","dataType":"bool"},{"name":"c","dataType":"BOOLEAN"},`+
			`{"name":"d","dataType":"Datetime"},{"name":"e","dataType":"dateTime"},{"name":"f","dataType":"string"},{"name":"g","dataType":"double"},{"name":"h","dataType":"decimal"}`), 201),
		ok("POST", "datasets", `{"name":"A","tables":[{"name":"T","columns":[`+c+`],"measures":[{"name":"M","expression":"SUM(T[X])"}]}],`+
			`"relationships":[{"name":"r","fromTable":"T","fromColumn":"X","toTable":"T","toColumn":"X"}]}`, 201),
		fail("POST", "datasets", `{"name":"A","tables":[{"name":"T","columns":[`+c+`]}],`+
			`"relationships":[{"name":"r","fromTable":"T","fromColumn":"X","toTable":"U","toColumn":"X"}]}`, 400, "BadRequest"),
	}
	var out []conformanceCase
	for _, ch := range "!\"$%&'()*+,./:;<=>?[\\]`{|}" {
		name, _ := jsonString("Sales" + string(ch))
		out = append(out, conformanceCase{name: "table name with " + string(ch),
			steps: []step{fail("POST", "datasets", table(name, c), 400, "BadRequest")}})
	}
	for i, s := range steps {
		out = append(out, conformanceCase{name: fmt.Sprintf("schema rule %d", i), steps: []step{s}})
	}
	return out
}

// checkBareThrottle checks the captured live throttle body: only {"message":"…"}.
func checkBareThrottle(t *testing.T, r reply) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil || len(m) != 1 || m["message"] == "" || m["message"] == nil {
		t.Fatalf("429 body %s, want exactly {\"message\":\"…\"}", r.body)
	}
}

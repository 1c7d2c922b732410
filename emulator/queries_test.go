package emulator_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// queryBody is an executeQueries request for one DAX query.
func queryBody(dax string, includeNulls bool) string {
	q, _ := json.Marshal(dax)
	return fmt.Sprintf(`{"queries":[{"query":%s}],"serializerSettings":{"includeNulls":%v}}`, q, includeNulls)
}

// queryRows runs dax against base (".../datasets/{id}") and returns the result rows.
func queryRows(t *testing.T, e *emulatortest.Emulator, base, dax string, includeNulls bool) []map[string]any {
	t.Helper()
	r := call(t, e, "POST", base+"/executeQueries", queryBody(dax, includeNulls), e.Token)
	if r.status != 200 {
		t.Fatalf("%s: %d %s", dax, r.status, r.body)
	}
	var res struct {
		Results []struct {
			Tables []struct {
				Rows []map[string]any `json:"rows"`
			} `json:"tables"`
		} `json:"results"`
	}
	if err := json.Unmarshal(r.body, &res); err != nil || len(res.Results) != 1 || len(res.Results[0].Tables) != 1 {
		t.Fatalf("%s: bad body %v %s", dax, err, r.body)
	}
	return res.Results[0].Tables[0].Rows
}

func TestExecuteQueries(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{Workspaces: []emulator.Workspace{{ID: group, Name: "G"}}})
	my := create(t, e, "datasets", fixtureBody("Q"))
	grp := create(t, e, "groups/"+group+"/datasets", fixtureBody("Q"))
	body := `{"rows":[{"Id":1,"Name":"a","Ok":true},{"Id":2,"Name":"b"},{"Id":3,"Name":"a","Value":2.5},{"Id":4}]}`
	for _, base := range []string{"datasets/" + my, "groups/" + group + "/datasets/" + grp} {
		if r := call(t, e, "POST", base+"/tables/Sales/rows", body, e.Token); r.status != 200 {
			t.Fatalf("post: %d %s", r.status, r.body)
		}
	}
	tests := []struct {
		dax   string
		nulls bool
		want  string
	}{
		{`EVALUATE ROW("n", COUNTROWS('Sales'))`, false, `[{"[n]":4}]`},
		{"evaluate\n  row ( \"rows\" , countrows ( sales ) )", false, `[{"[rows]":4}]`},
		{`EVALUATE ROW("n", DISTINCTCOUNT('Sales'[Name]))`, false, `[{"[n]":3}]`}, // a, b and BLANK
		{`EVALUATE ROW("n", DISTINCTCOUNT('sales'[id]))`, false, `[{"[n]":4}]`},
		{`EVALUATE ROW("n", COUNTROWS('Sales'), "d", DISTINCTCOUNT('Sales'[Name]))`, false, `[{"[d]":3,"[n]":4}]`},
		{`EVALUATE ROW("n", COUNTROWS('Other'))`, false, `[{}]`}, // BLANK over no rows
		{`EVALUATE ROW("n", COUNTROWS('Other'))`, true, `[{"[n]":null}]`},
		{`EVALUATE TOPN(2, 'Sales')`, false, `[{"Sales[Id]":1,"Sales[Name]":"a","Sales[Ok]":true},{"Sales[Id]":2,"Sales[Name]":"b"}]`},
		{`EVALUATE TOPN(1, 'Sales')`, true, `[{"Sales[Amount]":null,"Sales[At]":null,"Sales[Id]":1,"Sales[Name]":"a","Sales[Ok]":true,"Sales[Value]":null}]`},
		{`EVALUATE TOPN(0, 'Sales')`, false, `[]`},
		{`EVALUATE TOPN(100, 'Sales')`, false, `[{"Sales[Id]":1,"Sales[Name]":"a","Sales[Ok]":true},{"Sales[Id]":2,"Sales[Name]":"b"},{"Sales[Id]":3,"Sales[Name]":"a","Sales[Value]":2.5},{"Sales[Id]":4}]`},
		{`EVALUATE TOPN(1, 'Sales', 'Sales'[Id], DESC)`, false, `[{"Sales[Id]":4}]`},
		{`EVALUATE TOPN(1, 'Sales', 'Sales'[Name], ASC)`, false, `[{"Sales[Id]":4}]`},                                                                                                         // BLANK sorts first
		{`EVALUATE TOPN(2, 'Sales', 'Sales'[Name], ASC)`, false, `[{"Sales[Id]":4},{"Sales[Id]":1,"Sales[Name]":"a","Sales[Ok]":true},{"Sales[Id]":3,"Sales[Name]":"a","Sales[Value]":2.5}]`}, // ties included
	}
	for _, base := range []string{"datasets/" + my, "groups/" + group + "/datasets/" + grp} {
		for _, tc := range tests {
			got, _ := json.Marshal(queryRows(t, e, base, tc.dax, tc.nulls))
			if string(got) != tc.want {
				t.Errorf("%s %q nulls=%v:\n got %s\nwant %s", base, tc.dax, tc.nulls, got, tc.want)
			}
		}
	}
	// Row keys keep the table's column order on the wire.
	r := call(t, e, "POST", "datasets/"+my+"/executeQueries", queryBody(`EVALUATE TOPN(1, 'Sales')`, false), e.Token)
	if want := `{"results":[{"tables":[{"rows":[{"Sales[Id]":1,"Sales[Ok]":true,"Sales[Name]":"a"}]}]}]}`; strings.TrimSpace(string(r.body)) != want {
		t.Errorf("wire body %s, want %s", r.body, want)
	}
	if st := e.Server.DatasetsByName("Q"); st[0].Queries == 0 || st[1].Queries == 0 {
		t.Errorf("queries not counted: %d %d", st[0].Queries, st[1].Queries)
	}
}

func TestExecuteQueriesFailures(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{})
	id := create(t, e, "datasets", fixtureBody("Q"))
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"other DAX", queryBody(`EVALUATE 'Sales'`, false), 400, "DAX query failure"},
		{"SUMMARIZE", queryBody(`EVALUATE SUMMARIZE('Sales', 'Sales'[Name])`, false), 400, "supports only these forms"},
		{"SUM", queryBody(`EVALUATE ROW("s", SUM('Sales'[Id]))`, false), 400, "COUNTROWS"},
		{"unknown table", queryBody(`EVALUATE ROW("n", COUNTROWS('Nope'))`, false), 400, "Cannot find table 'Nope'"},
		{"unknown column", queryBody(`EVALUATE ROW("n", DISTINCTCOUNT('Sales'[Nope]))`, false), 400, "Column 'Nope'"},
		{"trailing text", queryBody(`EVALUATE TOPN(1, 'Sales') ORDER BY 'Sales'[Id]`, false), 400, "DAX query failure"},
		{"unterminated", queryBody(`EVALUATE ROW("n, COUNTROWS('Sales'))`, false), 400, "DAX query failure"},
		{"two queries", `{"queries":[{"query":"EVALUATE ROW(\"n\", COUNTROWS('Sales'))"},{"query":"EVALUATE ROW(\"n\", COUNTROWS('Sales'))"}]}`, 400, "Exactly one query"},
		{"no queries", `{"queries":[]}`, 400, "Exactly one query"},
		{"unknown property", `{"queries":[{"query":"x"}],"extra":1}`, 400, "does not exist on type"},
		{"unknown dataset", "", 404, "ItemNotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := "datasets/" + id + "/executeQueries"
			if tc.name == "unknown dataset" {
				path, tc.body = "datasets/00000000-0000-0000-0000-000000000000/executeQueries", queryBody(`EVALUATE ROW("n", COUNTROWS('Sales'))`, false)
			}
			r := call(t, e, "POST", path, tc.body, e.Token)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("%d %s, want %d with %q", r.status, r.body, tc.status, tc.want)
			}
			if tc.status == 400 && tc.name != "two queries" && strings.Contains(tc.body, "EVALUATE") && !strings.Contains(string(r.body), `"message":"DAX query failure"`) {
				t.Fatalf("body %s lacks the DAX query failure message", r.body)
			}
		})
	}
}

// TestQueriesPerMinutePerUser: 120 query requests per rolling minute per token, then 429.
func TestQueriesPerMinutePerUser(t *testing.T) {
	clk := newClock()
	e := emulatortest.Start(t, emulator.Options{Now: clk.Now, Tokens: []string{"u1", "u2"}})
	id := create(t, e, "datasets", fixtureBody("Q"))
	q := queryBody(`EVALUATE ROW("n", COUNTROWS('Sales'))`, false)
	for range 120 {
		if r := call(t, e, "POST", "datasets/"+id+"/executeQueries", q, "u1"); r.status != 200 {
			t.Fatalf("query: %d %s", r.status, r.body)
		}
	}
	r := call(t, e, "POST", "datasets/"+id+"/executeQueries", q, "u1")
	if r.status != 429 || r.retryAfter != "60" {
		t.Fatalf("121st query: %d Retry-After %q %s", r.status, r.retryAfter, r.body)
	}
	checkBareThrottle(t, r)
	if r := call(t, e, "POST", "datasets/"+id+"/executeQueries", q, "u2"); r.status != 200 {
		t.Fatalf("other user: %d %s", r.status, r.body)
	}
	clk.Advance(time.Minute)
	if r := call(t, e, "POST", "datasets/"+id+"/executeQueries", q, "u1"); r.status != 200 {
		t.Fatalf("after a minute: %d %s", r.status, r.body)
	}
	st := e.Server.DatasetsByName("Q")[0]
	if st.Throttles[emulator.ReasonQueriesPerMinute] != 1 || st.Violations[emulator.ReasonQueriesPerMinute] != 1 || st.Queries != 122 {
		t.Fatalf("stats: throttles %v violations %v queries %d", st.Throttles, st.Violations, st.Queries)
	}
}

// TestPreload250k preloads a retention-None table to 250,000 rows: executeQueries counts them
// and the dataset is in the hourly POST tier.
func TestPreload250k(t *testing.T) {
	clk := newClock()
	e := emulatortest.Start(t, emulator.Options{Now: clk.Now})
	id := create(t, e, "datasets?defaultRetentionPolicy=None", fixtureBody("Big"))
	if err := e.Server.Preload(id, "Sales", 250000); err != nil {
		t.Fatal(err)
	}
	rows := queryRows(t, e, "datasets/"+id, `EVALUATE ROW("n", COUNTROWS('Sales'), "d", DISTINCTCOUNT('Sales'[Id]))`, false)
	if fmt.Sprint(rows) != "[map[[d]:250000 [n]:250000]]" {
		t.Fatalf("rows = %v", rows)
	}
	top := queryRows(t, e, "datasets/"+id, `EVALUATE TOPN(1, 'Sales')`, false)
	if fmt.Sprint(top) != "[map[Sales[Amount]:0 Sales[At]:2026-01-01T00:00:00Z Sales[Id]:0 Sales[Name]:row 0 Sales[Ok]:true Sales[Value]:0.5]]" {
		t.Fatalf("top = %v", top)
	}
	for i := range 120 {
		clk.Advance(10 * time.Millisecond)
		if r := call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", rows1(i), e.Token); r.status != 200 {
			t.Fatalf("post %d: %d %s", i, r.status, r.body)
		}
	}
	clk.Advance(time.Minute)
	if r := call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", rows1(0), e.Token); r.status != 429 {
		t.Fatalf("121st post in the hour: %d, want 429 (hourly tier)", r.status)
	}
	st := e.Server.DatasetsByName("Big")[0]
	if st.Tables[0].Rows != 250120 || st.Tables[0].Preloaded != 250000 || st.Rows != 120 || st.Violations[emulator.ReasonPostsPerHour] != 1 {
		t.Fatalf("stats: table %+v rows %d violations %v", st.Tables[0], st.Rows, st.Violations)
	}
	if err := e.Server.AppendRows(id, "Other", []map[string]any{{"X": "12"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.AppendRows(id, "Other", []map[string]any{{"X": "x"}}); err == nil {
		t.Fatal("AppendRows accepted an invalid value")
	}
	if err := e.Server.Preload(id, "Nope", 1); err == nil {
		t.Fatal("Preload into an unknown table succeeded")
	}
}

func rows1(i int) string { return row(fmt.Sprintf(`"Id":%d`, i)) }

// TestPreloadEndpoint: POST /emulator/datasets/{id}/tables/{table}/preload?rows=N does what
// Server.Preload does, for clients of the emulator binary.
func TestPreloadEndpoint(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{MaxTableRows: 1000})
	id := create(t, e, "datasets", fixtureBody("P"))
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/emulator/datasets/" + id + "/tables/sales/preload?rows=600", 200, `{"preloaded":600,"rows":600}`},
		{"/emulator/datasets/" + id + "/tables/Sales/preload?rows=300", 200, `{"preloaded":300,"rows":900}`},
		{"/emulator/datasets/" + id + "/tables/Sales/preload?rows=101", 400, `would exceed 1000 rows`},
		{"/emulator/datasets/" + id + "/tables/Sales/preload?rows=x", 400, `non-negative integer`},
		{"/emulator/datasets/" + id + "/tables/Nope/preload?rows=1", 404, `No such dataset or table`},
	}
	for _, tc := range tests {
		r := call(t, e, "POST", tc.path, "", "")
		if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s: %d %s, want %d with %s", tc.path, r.status, r.body, tc.status, tc.want)
		}
	}
	if got := queryRows(t, e, "datasets/"+id, `EVALUATE ROW("n", COUNTROWS(Sales))`, false); fmt.Sprint(got) != "[map[[n]:900]]" {
		t.Fatalf("COUNTROWS after preload: %v", got)
	}
}

// BenchmarkQueries250k measures executeQueries over a table preloaded to 250,000 rows.
func BenchmarkQueries250k(b *testing.B) {
	e := emulatortest.Start(b, emulator.Options{QueriesPerMinute: 1 << 30})
	id := create(b, e, "datasets", fixtureBody("B"))
	if err := e.Server.Preload(id, "Sales", 250000); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{`EVALUATE ROW("n", COUNTROWS('Sales'))`, `EVALUATE ROW("n", DISTINCTCOUNT('Sales'[Id]))`,
		`EVALUATE TOPN(1000, 'Sales', 'Sales'[Id], DESC)`} {
		b.Run(strings.Fields(q)[1][:4]+"/"+strings.Fields(q)[2], func(b *testing.B) {
			for b.Loop() {
				if r := call(b, e, "POST", "datasets/"+id+"/executeQueries", queryBody(q, false), e.Token); r.status != 200 {
					b.Fatalf("%d %s", r.status, r.body)
				}
			}
		})
	}
}

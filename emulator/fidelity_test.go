package emulator_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

func TestWorkspaces(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{Workspaces: []emulator.Workspace{{ID: strings.ToUpper(group), Name: "marketing group"}}})
	r := call(t, e, "POST", "groups?workspaceV2=True", `{"name":"contoso"}`, e.Token)
	var created struct {
		Context, ID, Name string
	}
	if err := json.Unmarshal(r.body, &created); r.status != 200 || err != nil || created.Name != "contoso" ||
		!strings.Contains(string(r.body), `"@odata.context":"`+e.Root+`/v1.0/myorg/$metadata#groups/$entity"`) {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	tests := []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "groups", "", 200, `{"@odata.context":"` + e.Root + `/v1.0/myorg/$metadata#groups","value":[{"id":"` + group + `","isReadOnly":false,"isOnDedicatedCapacity":false,"name":"marketing group"},{"id":"` + created.ID + `"`},
		{"GET", "groups?$filter=" + "contains(name,'marketing')%20or%20name%20eq%20'contoso'", "", 200, `"name":"marketing group"},{"id":"` + created.ID + `"`},
		{"GET", "groups?$filter=name%20eq%20'contoso'", "", 200, `"value":[{"id":"` + created.ID + `"`},
		{"GET", "groups?$top=1&$skip=1", "", 200, `"value":[{"id":"` + created.ID + `"`},
		{"GET", "groups?$filter=startswith(name,'x')", "", 400, `not supported`},
		{"POST", "groups", `{"name":"Contoso"}`, 409, `already exists`},
		{"POST", "groups", `{}`, 400, `required`},
		{"POST", "groups?workspaceV2=maybe", `{"name":"x"}`, 400, `workspaceV2`},
		{"POST", "groups", `{"name":"x","description":"d"}`, 400, `"target":"requestParameters"`},
		{"GET", "groups/" + group + "/datasets", "", 200, `"value":[]`},
		{"GET", "groups/" + strings.ToUpper(created.ID) + "/datasets", "", 200, `"value":[]`},
		{"GET", "groups/00000000-0000-0000-0000-000000000001/datasets", "", 404, `{"error":{"code":"PowerBIEntityNotFound","pbi.error":{"code":"PowerBIEntityNotFound"`},
		{"POST", "groups/00000000-0000-0000-0000-000000000001/datasets", fixtureBody("X"), 404, `PowerBIEntityNotFound`},
		{"POST", "groups/00000000-0000-0000-0000-000000000001/datasets/x/tables/Sales/rows", rows(1), 404, `PowerBIEntityNotFound`},
		{"POST", "groups/00000000-0000-0000-0000-000000000001/datasets/x/executeQueries", `{"queries":[]}`, 404, `PowerBIEntityNotFound`},
		{"GET", "groups/sales-team/datasets", "", 400, `"code":"BadRequest"`},
		{"DELETE", "groups/not-a-guid/datasets/x/tables/T/rows", "", 400, `is not valid for groupId`},
	}
	for _, tc := range tests {
		r := call(t, e, tc.method, tc.path, tc.body, e.Token)
		if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s %s: %d %s\nwant %d with %s", tc.method, tc.path, r.status, r.body, tc.status, tc.want)
		}
	}
	if r := call(t, e, "GET", "groups", "", ""); r.status != 401 {
		t.Errorf("groups without a token: %d", r.status)
	}
	if err := e.Server.CreateWorkspace("nope", "x"); err == nil {
		t.Error("CreateWorkspace accepted a non-uuid")
	}
}

// TestEnumsCaseInsensitive sends every enum of the swagger's request bodies and query
// parameters in other cases, the official dataset-properties example's "bothDirections" first.
func TestEnumsCaseInsensitive(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{})
	rel := func(cf string) string {
		return `{"name":"A","tables":[{"name":"T","columns":[{"name":"X","dataType":"Int64"}]},{"name":"U","columns":[{"name":"X","dataType":"Int64"}]}],` +
			`"relationships":[{"name":"r","fromTable":"T","fromColumn":"X","toTable":"U","toColumn":"X","crossFilteringBehavior":"` + cf + `"}]}`
	}
	tests := []struct {
		path, body string
		status     int
	}{
		{"datasets", rel("bothDirections"), 201},
		{"datasets", rel("ONEDIRECTION"), 201},
		{"datasets", rel("automatic"), 201},
		{"datasets", rel("sideways"), 400},
		{"datasets", strings.Replace(fixtureBody("A"), `"Push"`, `"push"`, 1), 201},
		{"datasets", strings.Replace(fixtureBody("A"), `"Push"`, `"pushstreaming"`, 1), 201},
		{"datasets", strings.Replace(fixtureBody("A"), `"Push"`, `"STREAMING"`, 1), 201},
		{"datasets", strings.Replace(fixtureBody("A"), `"Push"`, `"asazure"`, 1), 201},
		{"datasets?defaultRetentionPolicy=BasicFifo", fixtureBody("A"), 201},
		{"datasets?defaultRetentionPolicy=NONE", fixtureBody("A"), 201},
		{"groups?workspaceV2=true", `{"name":"w1"}`, 200},
		{"groups?workspaceV2=TRUE", `{"name":"w2"}`, 200},
	}
	for _, tc := range tests {
		if r := call(t, e, "POST", tc.path, tc.body, e.Token); r.status != tc.status {
			t.Errorf("POST %s %.120s: %d %s, want %d", tc.path, tc.body, r.status, r.body, tc.status)
		}
	}
	var st emulator.Stats = e.Server.Stats()
	got := map[string]int{}
	for _, d := range st.Datasets {
		got[d.DefaultMode+"/"+d.Retention]++
	}
	if got["Push/basicFIFO"] != 1 || got["PushStreaming/None"] != 1 || got["Streaming/None"] != 1 || got["AsAzure/None"] != 1 {
		t.Errorf("canonical modes/retention: %v", got)
	}
}

// TestStringsConverted: strings that convert to a column's type are accepted and stored
// converted; -strict-types refuses them.
func TestStringsConverted(t *testing.T) {
	tests := []struct {
		field, stored string // stored: the stored row ("" = refused with 400 in both modes)
	}{
		{`"Id":"123"`, `{"Id":123}`},
		{`"Id":" -7 "`, `{"Id":-7}`},
		{`"Id":"+5"`, `{"Id":5}`},
		{`"Value":"1.5"`, `{"Value":1.5}`},
		{`"Value":"-2e3"`, `{"Value":-2e3}`},
		{`"Amount":"12345.6789"`, `{"Amount":12345.6789}`},
		{`"Ok":"true"`, `{"Ok":true}`},
		{`"Ok":"False"`, `{"Ok":false}`},
		{`"Id":"1","Ok":"TRUE","Name":"123"`, `{"Id":1,"Name":"123","Ok":true}`},
		{`"Id":"1.5"`, ""},
		{`"Id":"9223372036854775807"`, ""},
		{`"Id":""`, ""},
		{`"Value":"NaN"`, ""},
		{`"Value":"1e400"`, ""},
		{`"Value":"1,5"`, ""},
		{`"Ok":"yes"`, ""},
		{`"Amount":"1e40"`, ""},
	}
	for _, strict := range []bool{false, true} {
		e := emulatortest.Start(t, emulator.Options{StrictTypes: strict})
		id := create(t, e, "datasets", fixtureBody("S"))
		for _, tc := range tests {
			r := call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", row(tc.field), e.Token)
			accept := tc.stored != "" && !strict
			if accept != (r.status == 200) || (!accept && r.code != "BadRequest") {
				t.Errorf("strict=%v %s: %d %s", strict, tc.field, r.status, r.body)
				continue
			}
			if !accept {
				continue
			}
			raw := call(t, e, "GET", "/emulator/datasets/"+id+"/tables/Sales/rows?limit=1", "", "")
			if want := `{"rows":[` + tc.stored + `]}`; strings.TrimSpace(string(raw.body)) != want {
				t.Errorf("%s stored %s, want %s", tc.field, raw.body, want)
			}
		}
	}
}

// TestTableNamesCaseInsensitive: one rule everywhere: table names are case-insensitive.
func TestTableNamesCaseInsensitive(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{})
	id := create(t, e, "datasets", fixtureBody("C"))
	steps := []struct {
		method, path, body string
		status             int
	}{
		{"POST", "datasets/" + id + "/tables/sales/rows", row(`"Id":1`), 200},
		{"POST", "datasets/" + id + "/tables/SALES/rows", row(`"Id":2`), 200},
		{"PUT", "datasets/" + id + "/tables/other", `{"name":"OTHER","columns":[{"name":"X","dataType":"Int64"},{"name":"Y","dataType":"String"}]}`, 200},
		{"POST", "datasets/" + id + "/tables/Other/rows", row(`"X":1`), 200},
		{"DELETE", "datasets/" + id + "/tables/oThEr/rows", "", 200},
		{"POST", "datasets", `{"name":"D","tables":[{"name":"T","columns":[{"name":"X","dataType":"Int64"}]},{"name":"t","columns":[{"name":"X","dataType":"Int64"}]}]}`, 400},
	}
	for _, s := range steps {
		if r := call(t, e, s.method, s.path, s.body, e.Token); r.status != s.status {
			t.Fatalf("%s %s: %d %s, want %d", s.method, s.path, r.status, r.body, s.status)
		}
	}
	st := e.Server.DatasetsByName("C")[0]
	if st.Tables[0].Name != "Sales" || st.Tables[0].Rows != 2 || st.Tables[1].Name != "Other" || len(st.Tables[1].Columns) != 2 {
		t.Fatalf("tables %+v", st.Tables)
	}
	if len(e.Server.Rows(id, "sales")) != 2 {
		t.Fatal("Rows is not case-insensitive")
	}
}

// TestViolationStats: every 429 and every refusal for a Power BI limit is counted, per
// dataset and in total, in /emulator/stats.
func TestViolationStats(t *testing.T) {
	clk := newClock()
	e := emulatortest.Start(t, emulator.Options{Now: clk.Now, PostsPerMinute: 1, RowsPerPost: 2, MaxStringLen: 3,
		MaxBodyBytes: 4096, MaxTableRows: 3, ThrottleRate: 0})
	id := create(t, e, "datasets", fixtureBody("V"))
	post := func(body string, status int) {
		t.Helper()
		clk.Advance(61e9)
		if r := call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", body, e.Token); r.status != status {
			t.Fatalf("post %.40s: %d %s, want %d", body, r.status, r.body, status)
		}
	}
	idRows := func(n int) string {
		return `{"rows":[` + strings.TrimSuffix(strings.Repeat(`{"Id":1},`, n), ",") + `]}`
	}
	post(idRows(2), 200)
	post(idRows(3), 400)                                                                 // rows_per_post
	post(row(`"Name":"abcd"`), 400)                                                      // string_length
	post(idRows(2), 400)                                                                 // table_rows (2 + 2 > 3)
	post(strings.Repeat(" ", 5000), 413)                                                 // body_bytes
	post(row(`"Id":1`), 200)                                                             // fills the minute
	r := call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", row(`"Id":1`), e.Token) // posts_per_minute
	if r.status != 429 {
		t.Fatalf("throttle: %d", r.status)
	}
	st := e.Server.Stats()
	want := map[string]int64{emulator.LimitRowsPerPost: 1, emulator.LimitStringLength: 1, emulator.LimitTableRows: 1,
		emulator.LimitBodyBytes: 1, emulator.ReasonPostsPerMinute: 1}
	d := st.Datasets[0]
	if fmt.Sprint(d.Violations) != fmt.Sprint(want) || d.Throttled != 1 || st.Throttled != 1 || st.Violations != 5 {
		t.Fatalf("violations %v throttled %d; totals %d %d", d.Violations, d.Throttled, st.Throttled, st.Violations)
	}
	raw := call(t, e, "GET", "/emulator/stats", "", "")
	for _, key := range []string{`"throttled":1`, `"violations":5`, `"violations":{"body_bytes":1`} {
		if !strings.Contains(string(raw.body), key) {
			t.Errorf("/emulator/stats lacks %s", key)
		}
	}
}

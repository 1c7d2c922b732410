package emulator_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

func TestResponseShapes(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{Workspaces: []emulator.Workspace{{ID: group}}})
	id := create(t, e, "groups/"+group+"/datasets?defaultRetentionPolicy=basicFIFO", fixtureBody("Shapes"))
	tests := []struct {
		path, want string
	}{
		{"groups/" + group + "/datasets/" + id, `"@odata.context":"` + e.Root + `/v1.0/myorg/groups/` + group + `/$metadata#datasets/$entity","id":"` + id + `","name":"Shapes","addRowsAPIEnabled":true`},
		{"groups/" + group + "/datasets", `{"@odata.context":"` + e.Root + `/v1.0/myorg/groups/` + group + `/$metadata#datasets","value":[{"id":"` + id + `"`},
		{"groups/" + group + "/datasets", `"defaultRetentionPolicy":"basicFIFO","defaultMode":"Push"}]}`},
		{"groups/" + group + "/datasets/" + id + "/tables", `"value":[{"name":"Sales","columns":[{"name":"Id","dataType":"Int64"},{"name":"Value","dataType":"Double"},{"name":"Ok","dataType":"Boolean"}`},
		{"datasets", `{"@odata.context":"` + e.Root + `/v1.0/myorg/$metadata#datasets","value":[]}`},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := call(t, e, "GET", tc.path, "", e.Token)
			if r.status != 200 || !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("GET %s: %d %s\nwant substring %s", tc.path, r.status, r.body, tc.want)
			}
			if r.header.Get("RequestId") == "" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Fatalf("headers %v", r.header)
			}
		})
	}
}

func TestErrorBodies(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{})
	id := create(t, e, "datasets", fixtureBody("Errors"))
	tests := []struct {
		name, method, path, body, want string
	}{
		{"unauthorized", "GET", "datasets", "", `{"error":{"code":"PowerBINotAuthorizedException","pbi.error":{"code":"PowerBINotAuthorizedException","details":[],"exceptionCulprit":1,"parameters":{}}}}`},
		{"unknown table", "PUT", "datasets/" + id + "/tables/Nope", `{"name":"Nope","columns":[{"name":"a","dataType":"string"}]}`,
			`{"error":{"code":"ItemNotFound","message":"Table 'Nope' not found in dataset '` + id + `'."}}`},
		{"bad value names row and column", "POST", "datasets/" + id + "/tables/Sales/rows", `{"rows":[{"Value":1},{"Value":2},{"Value":"abc"}]}`,
			`"message":"Row 2: value 'abc' of column 'Value' is not a valid Double","details":[{"message":"Row 2: value 'abc' of column 'Value' is not a valid Double","target":"rows[2]"}]`},
		{"unknown column", "POST", "datasets/" + id + "/tables/Sales/rows", `{"rows":[{"Id":1,"Zeta":1,"Alpha":2}]}`,
			`"message":"Row 0: column 'Alpha' does not exist in table 'Sales'"`},
		{"long string", "POST", "datasets/" + id + "/tables/Sales/rows", `{"rows":[{"Name":"` + strings.Repeat("y", 4001) + `"}]}`,
			`is 4001 characters long; the limit is 4000`},
		{"wrong property case", "POST", "datasets", table(`"T"`, `{"name":"X","datatype":"Int64"}`),
			`{"error":{"code":"BadRequest","message":"Bad Request","details":[{"message":"The property 'datatype' does not exist on type 'Microsoft.PowerBI.ServiceContracts.Api.Column'. Make sure to only use property names that are defined by the type.","target":"dataset"}]}}`},
		{"unknown dataset property (captured)", "POST", "datasets", `{"name":"A","compatibilityLevel":1520,"tables":[{"name":"T","columns":[{"name":"X","dataType":"Int64"}]}]}`,
			`{"error":{"code":"BadRequest","message":"Bad Request","details":[{"message":"The property 'compatibilityLevel' does not exist on type 'Microsoft.PowerBI.ServiceContracts.Api.Dataset'. Make sure to only use property names that are defined by the type.","target":"dataset"}]}}`},
		{"unknown rows body property", "POST", "datasets/" + id + "/tables/Sales/rows", `{"rows":[],"row":[]}`,
			`"details":[{"message":"The property 'row' does not exist on type 'PostRowsRequest'. Make sure to only use property names that are defined by the type.","target":"requestMessage"}]`},
		{"unknown table property in PUT", "PUT", "datasets/" + id + "/tables/Other", `{"name":"Other","columns":[{"name":"X","dataType":"Int64"}],"colour":1}`,
			`"target":"requestMessage"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := e.Token
			if tc.name == "unauthorized" {
				token = ""
			}
			r := call(t, e, tc.method, tc.path, tc.body, token)
			if !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("%s %s: %d %s\nwant substring %s", tc.method, tc.path, r.status, r.body, tc.want)
			}
		})
	}
	if got := e.Server.Rows(id, "Sales"); len(got) != 0 {
		t.Fatalf("rejected posts stored %d rows", len(got))
	}
}

func TestThrottleBodyAndMessage(t *testing.T) {
	tests := []struct {
		name string
		opts emulator.Options
		want string
	}{
		{"rows per hour", emulator.Options{RowsPerHour: 1}, `{"message":"You are over your rows per hour limit for this dataset.`},
		{"posts per minute", emulator.Options{PostsPerMinute: 1}, `{"message":"You have exceeded the amount of requests allowed in the current time frame and further requests will fail. Retry in 60 seconds."}`},
		{"error shape", emulator.Options{PostsPerMinute: 1, ThrottleBody: emulator.ThrottleBodyError},
			`{"error":{"code":"TooManyRequests","message":"You have exceeded the amount of requests allowed in the current time frame and further requests will fail. Retry in 60 seconds."}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			tc.opts.Now = clk.Now
			e := emulatortest.Start(t, tc.opts)
			id := create(t, e, "datasets", fixtureBody("F"))
			call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", rows(1), e.Token)
			r := call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", rows(1), e.Token)
			if r.status != 429 || r.retryAfter == "" || !strings.HasPrefix(string(r.body), tc.want) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
		})
	}
}

func TestRowsStoredAndFIFO(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{FIFORows: 4})
	id := create(t, e, "datasets?defaultRetentionPolicy=basicFIFO", fixtureBody("Fifo"))
	for i := range 3 {
		body := fmt.Sprintf(`{"rows":[{"Id":%d,"Name":"a%d"},{"Id":%d,"Name":null}]}`, 2*i, i, 2*i+1)
		if r := call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", body, e.Token); r.status != 200 {
			t.Fatalf("post: %d %s", r.status, r.body)
		}
	}
	got := e.Server.Rows(id, "Sales")
	var ids []string
	for _, r := range got {
		ids = append(ids, fmt.Sprint(r["Id"]))
	}
	if strings.Join(ids, ",") != "2,3,4,5" || got[2]["Name"] != "a2" || got[3]["Name"] != nil {
		t.Fatalf("rows = %v", got)
	}
	r := call(t, e, "GET", "/emulator/datasets/"+id+"/tables/Sales/rows?limit=2", "", "")
	if r.status != 200 || string(r.body) != `{"rows":[{"Id":4,"Name":"a2"},{"Id":5,"Name":null}]}`+"\n" {
		t.Fatalf("rows endpoint: %d %s", r.status, r.body)
	}
	if r := call(t, e, "GET", "/emulator/datasets/"+id+"/tables/Nope/rows", "", ""); r.status != 404 {
		t.Fatalf("unknown table rows: %d", r.status)
	}
	st := e.Server.DatasetsByName("Fifo")[0]
	if st.Tables[0].Rows != 4 || st.Tables[0].Evicted != 2 || st.Rows != 6 || st.Posts != 3 || st.Tables[0].Posts != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPutTableKeepsSurvivingValues(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{})
	id := create(t, e, "datasets", fixtureBody("Put"))
	call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", `{"rows":[{"Id":1,"Value":2.5,"Name":"n"}]}`, e.Token)
	body := `{"name":"Sales","columns":[{"name":"Id","dataType":"Int64"},{"name":"Value","dataType":"String"},{"name":"New","dataType":"bool"}]}`
	r := call(t, e, "PUT", "datasets/"+id+"/tables/Sales", body, e.Token)
	if r.status != 200 || !strings.Contains(string(r.body), `{"name":"New","dataType":"Boolean"}`) {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	got := e.Server.Rows(id, "Sales")
	if len(got) != 1 || fmt.Sprint(got[0]) != "map[Id:1]" {
		t.Fatalf("rows after PUT = %v (Value retyped and Name removed must be dropped)", got)
	}
	if r := call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", `{"rows":[{"Value":"now text","New":true}]}`, e.Token); r.status != 200 {
		t.Fatalf("post with new schema: %d %s", r.status, r.body)
	}
}

func TestNonPushDataset(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{})
	id := create(t, e, "datasets", strings.Replace(fixtureBody("AS"), `"Push"`, `"AsAzure"`, 1))
	r := call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", rows(1), e.Token)
	if r.status != 404 || r.code != "ItemNotFound" || !strings.Contains(string(r.body), "is not Push API dataset") {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if r := call(t, e, "GET", "datasets/"+id, "", e.Token); !strings.Contains(string(r.body), `"addRowsAPIEnabled":false`) {
		t.Fatalf("get: %s", r.body)
	}
}

func TestDroppedConnectionStoresRows(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{DropRate: 1})
	id := create(t, e, "datasets", fixtureBody("Drop"))
	req, _ := http.NewRequest("POST", e.URL+"/datasets/"+id+"/tables/Sales/rows", strings.NewReader(rows(7)))
	req.Header.Set("Authorization", "Bearer "+e.Token)
	resp, err := e.Client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got a response %d, want a dropped connection", resp.StatusCode)
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") {
		t.Logf("client error: %v", err)
	}
	st := e.Server.DatasetsByName("Drop")[0]
	if st.Dropped != 1 || st.DroppedRows != 7 || len(e.Server.Rows(id, "Sales")) != 7 {
		t.Fatalf("dropped %d rows %d stored %d", st.Dropped, st.DroppedRows, len(e.Server.Rows(id, "Sales")))
	}
}

func TestPendingPosts(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{PendingPosts: 1, SlowRate: 1, SlowDelay: time.Minute})
	id := create(t, e, "datasets", fixtureBody("Pending"))
	ctxReq, _ := http.NewRequest("POST", e.URL+"/datasets/"+id+"/tables/Sales/rows", strings.NewReader(rows(1)))
	ctxReq.Header.Set("Authorization", "Bearer "+e.Token)
	done := make(chan error, 1)
	client := &http.Client{Timeout: 30 * time.Second}
	go func() {
		resp, err := client.Do(ctxReq)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, func() bool { return e.Server.DatasetsByName("Pending")[0].Pending == 1 })
	r := call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", rows(1), e.Token)
	if r.status != 429 || r.retryAfter != "1" || !strings.HasPrefix(string(r.body), `{"message":"Too many pending requests`) {
		t.Fatalf("second post: %d Retry-After %q %s", r.status, r.retryAfter, r.body)
	}
	st := e.Server.DatasetsByName("Pending")[0]
	if st.Throttles[emulator.ReasonPending] != 1 || st.PeakPending != 1 || st.Slowed != 1 {
		t.Fatalf("stats %+v", st)
	}
	client.CloseIdleConnections()
	e.HTTP.CloseClientConnections()
	<-done
}

// waitFor polls cond (a state change in another goroutine) for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStatsEndpointMatchesStats(t *testing.T) {
	e := emulatortest.StartWith(t, emulatortest.Options{TLS: true})
	id := create(t, e, "datasets", fixtureBody("Json"))
	call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", rows(3), e.Token)
	r := call(t, e, "GET", "/emulator/stats", "", "")
	var st emulator.Stats
	if err := json.Unmarshal(r.body, &st); err != nil || len(st.Datasets) != 1 {
		t.Fatalf("stats: %v %s", err, r.body)
	}
	d := st.Datasets[0]
	if d.ID != id || d.Rows != 3 || d.Posts != 1 || d.Tables[0].Rows != 3 || len(d.RowsPerMinute) != 1 || d.RowsPerMinute[0].Rows != 3 {
		t.Fatalf("stats %+v", d)
	}
	if !strings.HasPrefix(e.URL, "https://") {
		t.Fatalf("TLS emulator URL %s", e.URL)
	}
}

// TestTokenExpiry plugs an expiring validator (as the fake Azure AD does) into the emulator.
func TestTokenExpiry(t *testing.T) {
	clk := newClock()
	expires := clk.Now().Add(time.Hour)
	valid := func(tok string) bool { return tok == "aad-token" && clk.Now().Before(expires) }
	e := emulatortest.Start(t, emulator.Options{Now: clk.Now, ValidateToken: valid})
	tests := []struct {
		advance time.Duration
		status  int
	}{{0, 200}, {59 * time.Minute, 200}, {time.Minute, 401}}
	for _, tc := range tests {
		clk.Advance(tc.advance)
		if r := call(t, e, "GET", "datasets", "", "aad-token"); r.status != tc.status {
			t.Fatalf("after %v: %d, want %d", tc.advance, r.status, tc.status)
		}
	}
}

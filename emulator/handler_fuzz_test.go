package emulator_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/emulator"
)

// FuzzExecuteQueries sends arbitrary executeQueries bodies to the handler: the answer is a 200
// in the results shape or a 4xx error body, never a 5xx or a panic.
func FuzzExecuteQueries(f *testing.F) {
	srv := emulator.New(emulator.Options{Tokens: []string{"tok"}, QueriesPerMinute: 1 << 30})
	send := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	rec := send("POST", "/v1.0/myorg/datasets", fixtureBody("F"))
	var d struct{ ID string }
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		f.Fatal(err)
	}
	send("POST", "/v1.0/myorg/datasets/"+d.ID+"/tables/Sales/rows", rows(3))
	for _, q := range []string{`EVALUATE ROW("n", COUNTROWS('Sales'))`, `EVALUATE TOPN(2, Sales, Sales[Name], ASC)`,
		`EVALUATE ROW("d", DISTINCTCOUNT('Sales'[At]))`, `EVALUATE 'Sales'`} {
		f.Add(queryBody(q, true))
	}
	f.Add(`{"queries":[{"query":1}]}`)
	f.Add(`{"queries":null,"serializerSettings":{"includeNulls":"x"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		rec := send("POST", "/v1.0/myorg/datasets/"+d.ID+"/executeQueries", body)
		var v map[string]any
		if rec.Code >= 500 || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
		}
		if _, ok := v["results"]; (rec.Code == http.StatusOK) != ok {
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
		}
	})
}

package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// swaggerFile is Microsoft's swagger of the push-dataset, workspace and executeQueries
// operations (../shared beside the repository; MIT licence, see ../shared/pbi-api.md §8).
const swaggerFile = "shared/powerbi-push-swagger.json"

// loadSwagger finds ../shared/powerbi-push-swagger.json in a parent directory. Outside CI a
// checkout without it skips the test; in CI (CI set) its absence fails it.
func loadSwagger(t *testing.T) []byte {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, swaggerFile)); err == nil {
			return b
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found in any parent directory: CI must provide ../shared beside the clone", swaggerFile)
	}
	t.Skipf("%s not found in any parent directory", swaggerFile)
	return nil
}

// swaggerSpec is the swagger converted to OpenAPI 3 by kin-openapi, with its router.
type swaggerSpec struct {
	doc      *openapi3.T
	router   routers.Router
	exampled map[string]bool // property names the swagger's own x-ms-examples spell
}

// jsPattern turns the swagger's ECMAScript \uXXXX escapes into Go's \x{XXXX}.
var jsPattern = regexp.MustCompile(`\\u([0-9A-Fa-f]{4})`)

func compileJSPattern(p string) (openapi3.RegexMatcher, error) {
	return regexp.Compile(jsPattern.ReplaceAllString(p, `\x{$1}`))
}

func newSwaggerSpec(t *testing.T, root string) *swaggerSpec {
	t.Helper()
	raw := loadSwagger(t)
	var doc2 openapi2.T
	if err := json.Unmarshal(raw, &doc2); err != nil {
		t.Fatalf("parse swagger: %v", err)
	}
	doc, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		t.Fatalf("convert swagger to OpenAPI 3: %v", err)
	}
	// The swagger names the OData wrapper property "odata.context"; its wire name is
	// "@odata.context" (pbi-api.md §1): validate the wire name.
	for _, s := range doc.Components.Schemas {
		if p, ok := s.Value.Properties["odata.context"]; ok {
			s.Value.Properties["@odata.context"] = p
			delete(s.Value.Properties, "odata.context")
		}
	}
	doc.Servers = openapi3.Servers{{URL: root}}
	ctx := context.Background()
	if err := doc.Validate(ctx, openapi3.SetRegexCompiler(compileJSPattern)); err != nil {
		t.Fatalf("converted swagger is invalid: %v", err)
	}
	router, err := legacy.NewRouter(doc, openapi3.SetRegexCompiler(compileJSPattern))
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	var anyDoc any
	_ = json.Unmarshal(raw, &anyDoc)
	exampled := map[string]bool{}
	collectExampleKeys(anyDoc, false, exampled)
	return &swaggerSpec{doc: doc, router: router, exampled: exampled}
}

// collectExampleKeys gathers the property names inside x-ms-examples.
func collectExampleKeys(v any, inExample bool, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if inExample {
				out[k] = true
			}
			collectExampleKeys(c, inExample || k == "x-ms-examples", out)
		}
	case []any:
		for _, c := range x {
			collectExampleKeys(c, inExample, out)
		}
	}
}

// exchange is one request to the emulator and its answer.
type exchange struct {
	method, path, body string // path relative to /v1.0/myorg
	status             int
	specRequest        bool // the request itself conforms to the swagger (validate it too)
}

// conformanceRun sends requests and validates every answer against the swagger.
type conformanceRun struct {
	t    *testing.T
	e    *emulatortest.Emulator
	spec *swaggerSpec
	seen map[string]int // operationId → validated answers
}

// do sends x, checks its status, validates request (when specRequest) and response with
// kin-openapi, and checks property-name case; it returns the decoded body.
func (c *conformanceRun) do(x exchange) any {
	c.t.Helper()
	req, err := http.NewRequest(x.method, c.e.URL+"/"+x.path, strings.NewReader(x.body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.e.Token)
	if x.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := c.spec.router.FindRoute(req)
	if err != nil {
		c.t.Fatalf("%s %s: no operation in the swagger: %v", x.method, x.path, err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, RegexCompiler: compileJSPattern,
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if x.specRequest {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			c.t.Fatalf("%s %s: the test's request does not conform to the swagger: %v", x.method, x.path, err)
		}
		req.Body = io.NopCloser(strings.NewReader(x.body))
	}
	resp, err := c.e.Client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatal(err)
	}
	op := route.Operation.OperationID
	if resp.StatusCode != x.status {
		c.t.Fatalf("%s (%s %s): %d %s, want %d", op, x.method, x.path, resp.StatusCode, body, x.status)
	}
	v, err := c.spec.validateAnswer(in, resp.StatusCode, resp.Header, body)
	if err != nil {
		c.t.Fatalf("%s (%s %s): %v\nbody %s", op, x.method, x.path, err, body)
	}
	c.seen[op]++
	return v
}

// validateAnswer validates one answer to the request of in: kin-openapi's response validation
// (status listed, required properties, types, patterns) and property-name case.
func (s *swaggerSpec) validateAnswer(in *openapi3filter.RequestValidationInput, status int, header http.Header, body []byte) (any, error) {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status,
		Header: header, Body: io.NopCloser(bytes.NewReader(body)), Options: in.Options}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return nil, fmt.Errorf("answer does not conform to the swagger: %w", err)
	}
	if len(body) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("answer is not JSON: %w", err)
	}
	schema := in.Route.Operation.Responses.Status(status).Value.Content.Get("application/json").Schema
	return v, s.checkCase(schema, v, "$")
}

// properties merges a schema's properties with those of its allOf parts.
func properties(s *openapi3.Schema) map[string]*openapi3.SchemaRef {
	out := map[string]*openapi3.SchemaRef{}
	for k, p := range s.Properties {
		out[k] = p
	}
	for _, part := range s.AllOf {
		for k, p := range properties(part.Value) {
			out[k] = p
		}
	}
	return out
}

// checkCase fails on a property whose name matches a schema property only when case is
// ignored, unless the swagger's own examples spell it that way (they write "isRefreshable"
// where the definition says "IsRefreshable").
func (s *swaggerSpec) checkCase(ref *openapi3.SchemaRef, v any, at string) error {
	if ref == nil || ref.Value == nil {
		return nil
	}
	switch x := v.(type) {
	case map[string]any:
		props := properties(ref.Value)
		for k, child := range x {
			if p, ok := props[k]; ok {
				if err := s.checkCase(p, child, at+"."+k); err != nil {
					return err
				}
				continue
			}
			for name := range props {
				if strings.EqualFold(name, k) && !s.exampled[k] {
					return fmt.Errorf("%s.%s: the swagger spells this property %q", at, k, name)
				}
			}
		}
	case []any:
		if ref.Value.Items != nil {
			for i, child := range x {
				if err := s.checkCase(ref.Value.Items, child, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// xmsExample returns the named x-ms-example parameter of an operation, as JSON.
func (s *swaggerSpec) xmsExample(t *testing.T, op, example, param string) (string, map[string]any) {
	t.Helper()
	for _, item := range s.doc.Paths.Map() {
		for _, o := range item.Operations() {
			if o.OperationID != op {
				continue
			}
			ex, _ := o.Extensions["x-ms-examples"].(map[string]any)
			e, _ := ex[example].(map[string]any)
			params, _ := e["parameters"].(map[string]any)
			b, err := json.Marshal(params[param])
			if err != nil || params[param] == nil {
				t.Fatalf("%s: no x-ms-example %q parameter %q", op, example, param)
			}
			return string(b), params
		}
	}
	t.Fatalf("no operation %s in the swagger", op)
	return "", nil
}

func field(v any, path ...string) any {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}

// TestSwaggerConformance drives every operation of the swagger (push datasets, workspaces,
// executeQueries; My workspace and workspace forms) and validates every answer against it with
// kin-openapi: status codes, required properties, types, patterns and @odata.context wrappers,
// plus property-name case. It ends by checking that no operation of the swagger was left out.
func TestSwaggerConformance(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{})
	spec := newSwaggerSpec(t, e.Root)
	c := &conformanceRun{t: t, e: e, spec: spec, seen: map[string]int{}}

	ws := c.do(exchange{"POST", "groups?workspaceV2=true", `{"name":"conformance"}`, 200, true})
	g := "groups/" + field(ws, "id").(string)
	c.do(exchange{"GET", "groups", "", 200, true})
	c.do(exchange{"GET", "groups?$filter=contains(name,'conf')%20or%20name%20eq%20'x'&$top=5&$skip=0", "", 200, true})
	for _, base := range []string{"", g + "/"} {
		c.checkForm(base)
	}
	var missing []string
	for _, item := range spec.doc.Paths.Map() {
		for _, o := range item.Operations() {
			if c.seen[o.OperationID] == 0 {
				missing = append(missing, o.OperationID)
			}
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Fatalf("operations of the swagger never exercised: %v", missing)
	}
	t.Logf("validated answers per operation: %v", c.seen)
}

// checkForm exercises every dataset operation under base ("" or "groups/{id}/").
func (c *conformanceRun) checkForm(base string) {
	c.t.Helper()
	for _, retention := range []string{"", "?defaultRetentionPolicy=None", "?defaultRetentionPolicy=basicFIFO"} {
		c.do(exchange{"POST", base + "datasets" + retention, fixtureBody("Conf"), 201, true})
	}
	created := c.do(exchange{"POST", base + "datasets", `{"name":"Rel","defaultMode":"PushStreaming","tables":[` + salesSchema +
		`],"relationships":[{"name":"r","fromTable":"Sales","fromColumn":"Id","toTable":"Sales","toColumn":"Id","crossFilteringBehavior":"BothDirections"}]}`, 201, true})
	id := field(created, "id").(string)
	ds := base + "datasets/" + id
	list := c.do(exchange{"GET", base + "datasets", "", 200, true})
	if field(list, "@odata.context") == nil || len(field(list, "value").([]any)) != 4 {
		c.t.Fatalf("GET %sdatasets: %v", base, list)
	}
	got := c.do(exchange{"GET", ds, "", 200, true})
	if field(got, "@odata.context") == nil || field(got, "addRowsAPIEnabled") != true {
		c.t.Fatalf("GET %s: %v", ds, got)
	}
	tables := c.do(exchange{"GET", ds + "/tables", "", 200, true})
	if field(tables, "@odata.context") == nil {
		c.t.Fatalf("GET tables: no @odata.context: %v", tables)
	}
	c.do(exchange{"PUT", ds + "/tables/Sales", `{"name":"Sales","columns":[{"name":"Id","dataType":"Int64"},{"name":"Name","dataType":"string"},` +
		`{"name":"At","dataType":"DateTime","formatString":"yyyy-MM-dd"}],"isHidden":false,"description":"d"}`, 200, true})
	c.do(exchange{"POST", ds + "/tables/Sales/rows", `{"rows":[{"Id":1,"Name":"a","At":"2026-01-01T00:00:00Z"},{"Id":2}]}`, 200, true})
	for _, q := range []string{`EVALUATE ROW(\"n\", COUNTROWS('Sales'))`, `EVALUATE ROW(\"n\", DISTINCTCOUNT('Sales'[Name]))`, `EVALUATE TOPN(5, 'Sales')`} {
		res := c.do(exchange{"POST", ds + "/executeQueries", `{"queries":[{"query":"` + q + `"}],"serializerSettings":{"includeNulls":true}}`, 200, true})
		if len(field(res, "results").([]any)) != 1 {
			c.t.Fatalf("executeQueries %s: %v", q, res)
		}
	}
	c.do(exchange{"DELETE", ds + "/tables/Sales/rows", "", 200, true})
	c.do(exchange{"DELETE", ds, "", 200, true})
	c.checkExamples(base)
}

// checkExamples sends the swagger's x-ms-examples for create dataset, put table and post
// rows verbatim and checks they are accepted (and the create answer matches the example's).
func (c *conformanceRun) checkExamples(base string) {
	c.t.Helper()
	spec, t := c.spec, c.t
	op := "Datasets_PostDataset"
	if base != "" {
		op = "Datasets_PostDatasetInGroup"
	}
	body, params := spec.xmsExample(t, op, "Push example", "dataset")
	created := c.do(exchange{"POST", base + "datasets?defaultRetentionPolicy=" + params["defaultRetentionPolicy"].(string), body, 201, true})
	if field(created, "name") != "SalesMarketing" || field(created, "defaultRetentionPolicy") != "basicFIFO" {
		t.Fatalf("create example answered %v; the example answers name SalesMarketing, defaultRetentionPolicy basicFIFO", created)
	}
	ds := base + "datasets/" + field(created, "id").(string)
	putOp, rowsOp := "Datasets_PutTable", "Datasets_PostRows"
	if base != "" {
		putOp, rowsOp = "Datasets_PutTableInGroup", "Datasets_PostRowsInGroup"
	}
	body, params = spec.xmsExample(t, putOp, "Example", "requestMessage")
	put := c.do(exchange{"PUT", ds + "/tables/" + params["tableName"].(string), body, 200, true})
	if field(put, "name") != "Product" {
		t.Fatalf("put table example answered %v", put)
	}
	body, params = spec.xmsExample(t, rowsOp, "Example", "requestMessage")
	c.do(exchange{"POST", ds + "/tables/" + params["tableName"].(string) + "/rows", body, 200, true})
	res := c.do(exchange{"POST", ds + "/executeQueries", `{"queries":[{"query":"EVALUATE ROW(\"n\", COUNTROWS('Product'))"}]}`, 200, true})
	if fmt.Sprint(field(res, "results").([]any)[0]) != "map[tables:[map[rows:[map[[n]:3]]]]]" {
		t.Fatalf("the example's 3 rows were not stored: %v", res)
	}
}

// TestSwaggerValidatorCatchesDeviations proves the conformance check can fail: answers that
// break the swagger in each way it checks are refused.
func TestSwaggerValidatorCatchesDeviations(t *testing.T) {
	spec := newSwaggerSpec(t, "http://emulator.test")
	const id = `"cfafbeb1-8037-4d0c-896e-a46fb27ff229"`
	tests := []struct {
		name, method, path string
		status             int
		body               string
	}{
		{"status not listed", "POST", "/v1.0/myorg/datasets", 200, `{"id":` + id + `}`},
		{"required id missing", "GET", "/v1.0/myorg/datasets/x", 200, `{"name":"n"}`},
		{"wrong type", "GET", "/v1.0/myorg/datasets/x", 200, `{"id":` + id + `,"addRowsAPIEnabled":"yes"}`},
		{"wrong property case", "GET", "/v1.0/myorg/datasets/x", 200, `{"id":` + id + `,"AddRowsAPIEnabled":true}`},
		{"wrong case in a list", "GET", "/v1.0/myorg/groups/" + strings.Trim(id, `"`) + "/datasets/x/tables", 200, `{"value":[{"Name":"T","columns":[]}]}`},
		{"table name pattern", "GET", "/v1.0/myorg/datasets/x/tables", 200, `{"value":[{"name":"a/b","columns":[]}]}`},
		{"wrong type in query result", "POST", "/v1.0/myorg/datasets/x/executeQueries", 200, `{"results":[{"tables":[{"rows":[1]}]}]}`},
		{"group without id", "GET", "/v1.0/myorg/groups", 200, `{"value":[{"name":"w"}]}`},
		{"not JSON", "GET", "/v1.0/myorg/groups", 200, `{"value":`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "http://emulator.test"+tc.path, nil)
			route, params, err := spec.router.FindRoute(req)
			if err != nil {
				t.Fatal(err)
			}
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{IncludeResponseStatus: true, RegexCompiler: compileJSPattern}}
			h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
			if _, err := spec.validateAnswer(in, tc.status, h, []byte(tc.body)); err == nil {
				t.Fatalf("%s accepted", tc.body)
			}
		})
	}
}

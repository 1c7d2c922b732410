package emulator_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pbi-pusher/pbi-pusher/emulator"
)

func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

func valueCases() []conformanceCase {
	good := []string{
		`"Id":9223372036854775806`, `"Id":-9223372036854775807`, `"Id":null`, `"Value":-1.5e300`, `"Value":0`,
		`"Ok":false`, `"At":"2023-04-24T09:35:26.740Z"`, `"At":"2023-04-24T09:35:26+02:00"`, `"At":"2023-04-24T09:35:26"`,
		`"At":"2023-04-24"`, `"At":"07/30/2014"`, `"Name":"` + strings.Repeat("x", 4000) + `"`,
		`"Name":"` + strings.Repeat("é", 4000) + `"`, `"Amount":12345.6789`, ``,
	}
	bad := []string{
		`"Id":9223372036854775807`, `"Id":-9223372036854775808`, `"Id":99999999999999999999`, `"Id":1.5`, `"Id":"12.5"`, `"Id":"9223372036854775807"`, `"Id":"abc"`,
		`"Value":1e400`, `"Value":"NaN"`, `"Value":1.7976931348623157e308`, `"Value":true`,
		`"Ok":"yes"`, `"Ok":1`, `"Value":"NaN"`, `"Value":"Infinity"`, `"Value":"0x1p3"`, `"Amount":"1e40"`, `"At":"yesterday"`, `"At":"2023-13-01"`, `"At":1700000000`,
		`"Name":"` + strings.Repeat("x", 4001) + `"`, `"Name":"` + strings.Repeat("😀", 2001) + `"`, `"Name":5`,
		`"Amount":1e40`, `"Nope":1`, `"id":1`,
	}
	var out []conformanceCase
	for i, f := range good {
		out = append(out, conformanceCase{name: fmt.Sprintf("valid value %d", i), steps: []step{ok("POST", rowsPath, row(f), 200)}})
	}
	for i, f := range bad {
		out = append(out, conformanceCase{name: fmt.Sprintf("invalid value %d", i), steps: []step{fail("POST", rowsPath, row(f), 400, "BadRequest")}})
	}
	shape := []step{
		fail("POST", rowsPath, `{"rows":[1]}`, 400, "BadRequest"),
		fail("POST", rowsPath, `{"rows":{}}`, 400, "BadRequest"),
		fail("POST", rowsPath, `{"row":[]}`, 400, "BadRequest"),
		fail("POST", rowsPath, `[{"Id":1}]`, 400, "BadRequest"),
		fail("POST", rowsPath, `{"rows":[{"Id":1}`, 400, "BadRequest"),
	}
	for i, s := range shape {
		out = append(out, conformanceCase{name: fmt.Sprintf("rows body shape %d", i), steps: []step{s}})
	}
	return append(out,
		conformanceCase{name: "reject marker", opts: emulator.Options{RejectRowsContaining: "POISON"},
			steps: []step{ok("POST", rowsPath, row(`"Name":"fine"`), 200), fail("POST", rowsPath, row(`"Name":"a POISON b"`), 400, "BadRequest")}},
		conformanceCase{name: "rows per post", opts: emulator.Options{RowsPerPost: 5},
			steps: []step{ok("POST", rowsPath, rows(5), 200), fail("POST", rowsPath, rows(6), 400, "BadRequest")}},
		conformanceCase{name: "10,000 rows per post default",
			steps: []step{ok("POST", rowsPath, rows(10000), 200), fail("POST", rowsPath, rows(10001), 400, "BadRequest")}},
		conformanceCase{name: "body size", opts: emulator.Options{MaxBodyBytes: 1024},
			steps: []step{ok("POST", rowsPath, rows(5), 200), fail("POST", rowsPath, rows(20), 413, "RequestEntityTooLarge"),
				fail("POST", "datasets", tables(10, 10), 413, "RequestEntityTooLarge")}},
		conformanceCase{name: "string length flag", opts: emulator.Options{MaxStringLen: 3},
			steps: []step{ok("POST", rowsPath, row(`"Name":"abc"`), 200), fail("POST", rowsPath, row(`"Name":"abcd"`), 400, "BadRequest")}},
		conformanceCase{name: "tables and columns flags", opts: emulator.Options{MaxTables: 2, MaxColumns: 6},
			steps: []step{ok("POST", "datasets", tables(2, 6), 201), fail("POST", "datasets", tables(3, 1), 400, "BadRequest"),
				fail("POST", "datasets", tables(1, 7), 400, "BadRequest")}},
	)
}

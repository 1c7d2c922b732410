package schema

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with the file, or rewrites the file with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeJSONL parses one JSON object per non-blank line, numbers as json.Number.
func decodeJSONL(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		recs = append(recs, m)
	}
	return recs
}

// TestCoerceGolden coerces testdata/coerce/records.jsonl with table.yaml: one output line per
// record, the row JSON or the error.
func TestCoerceGolden(t *testing.T) {
	var ct config.Table
	if err := yaml.Unmarshal(readFile(t, "testdata/coerce/table.yaml"), &ct); err != nil {
		t.Fatal(err)
	}
	tb, err := Compile(ct)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 678999999, time.FixedZone("X", 3600))
	var out bytes.Buffer
	for i, rec := range decodeJSONL(t, readFile(t, "testdata/coerce/records.jsonl")) {
		row, err := tb.Coerce(rec, now)
		if err != nil {
			fmt.Fprintf(&out, "%d error: %v\n", i+1, err)
			continue
		}
		if !json.Valid(row) {
			t.Errorf("record %d: invalid JSON %s", i+1, row)
		}
		fmt.Fprintf(&out, "%d row: %s\n", i+1, row)
	}
	fmt.Fprintf(&out, "unknown fields ignored: %d\n", tb.UnknownIgnored())
	golden(t, "testdata/coerce/records.golden", out.Bytes())
}

func TestInferGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/infer/*.*")
	n := 0
	for _, f := range files {
		var recs []map[string]any
		var opts InferOptions
		switch filepath.Ext(f) {
		case ".jsonl":
			data := readFile(t, f)
			recs = decodeJSONL(t, data)
			for _, line := range bytes.Split(data, []byte("\n")) {
				opts.Order = append(opts.Order, KeyOrder(line)...)
			}
		case ".csv":
			recs, opts = readCSV(t, f)
		default:
			continue
		}
		n++
		tb := Infer(strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)), recs, opts)
		out, err := TableYAML(tb)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, f+".golden", out)
		if _, err := Compile(tb); err != nil {
			t.Errorf("%s: inferred table does not compile: %v", f, err)
		}
		for i, rec := range recs {
			if _, err := mustCompile(t, tb).Coerce(rec, time.Now()); err != nil {
				t.Errorf("%s: sample record %d does not fit the inferred table: %v", f, i+1, err)
			}
		}
	}
	if n < 2 {
		t.Fatalf("only %d infer samples", n)
	}
}

func readCSV(t *testing.T, path string) ([]map[string]any, InferOptions) {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(readFile(t, path))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, r := range rows[1:] {
		m := map[string]any{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		recs = append(recs, m)
	}
	return recs, InferOptions{Order: rows[0], ParseStrings: true}
}

func mustCompile(t *testing.T, ct config.Table) *Table {
	t.Helper()
	tb, err := Compile(ct)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

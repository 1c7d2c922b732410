package ingest

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// decodeAll reads every record; a non-EOF error ends the list and is returned.
func decodeAll(t testing.TB, format string, data []byte, opts DecoderOptions) ([]Record, error) {
	t.Helper()
	d, err := NewDecoder(format, bytes.NewReader(data), opts)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for {
		r, err := d.Next()
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, r)
		if len(recs) > len(data)+1 {
			t.Fatalf("more records than input bytes: decoder does not advance")
		}
	}
}

// dump renders records for golden files: position, then fields (sorted) or the error, then raw.
func dump(recs []Record) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&b, "line %d offset %d raw %q\n", r.Line, r.Offset, r.Raw)
		if r.Err != nil {
			fmt.Fprintf(&b, "  error: %v\n", r.Err)
			continue
		}
		keys := make([]string, 0, len(r.Fields))
		for k := range r.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s = %T %#v\n", k, r.Fields[k], r.Fields[k])
		}
	}
	return b.Bytes()
}

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
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestDecodeGolden decodes every testdata input and compares with its .golden file.
func TestDecodeGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.*")
	n := 0
	for _, f := range files {
		format, ok := FormatFromPath(f)
		if !ok {
			continue
		}
		n++
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := decodeAll(t, format, data, DecoderOptions{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		golden(t, f+".golden", dump(recs))
		checkResume(t, format, data, recs, DecoderOptions{})
	}
	if n < 2 {
		t.Fatalf("found %d inputs", n)
	}
}

// checkResume restarts at every record boundary and expects exactly the remaining records.
func checkResume(t testing.TB, format string, data []byte, all []Record, opts DecoderOptions) {
	t.Helper()
	for i, r := range all {
		opts.Skip = r.Offset
		rest, err := decodeAll(t, format, data, opts)
		if err != nil {
			t.Fatalf("resume at %d: %v", r.Offset, err)
		}
		if !sameRecords(rest, all[i+1:]) {
			t.Fatalf("resume at offset %d (after record %d):\ngot:\n%s\nwant:\n%s", r.Offset, i+1, dump(rest), dump(all[i+1:]))
		}
	}
}

func sameRecords(a, b []Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Line != y.Line || x.Offset != y.Offset || !bytes.Equal(x.Raw, y.Raw) ||
			!reflect.DeepEqual(x.Fields, y.Fields) || fmt.Sprint(x.Err) != fmt.Sprint(y.Err) {
			return false
		}
	}
	return true
}

func TestNewDecoderErrors(t *testing.T) {
	if _, err := NewDecoder("xml", strings.NewReader(""), DecoderOptions{}); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := NewDecoder("csv", strings.NewReader(""), DecoderOptions{Skip: -1}); err == nil {
		t.Error("negative skip accepted")
	}
}

func TestFormatFromPath(t *testing.T) {
	for path, want := range map[string]string{"a.jsonl": "jsonl", "b.NDJSON": "jsonl", "c.json": "jsonl",
		"d.csv": "csv", "/x/e.CSV": "csv", "f.txt": "", "g": ""} {
		got, ok := FormatFromPath(path)
		if got != want || ok != (want != "") {
			t.Errorf("FormatFromPath(%q) = %q, %v", path, got, ok)
		}
	}
}

func TestSkipPastEnd(t *testing.T) {
	for _, format := range []string{"jsonl", "csv"} {
		_, err := decodeAll(t, format, []byte("a\n{}\n"), DecoderOptions{Skip: 100})
		if !errors.Is(err, ErrSkipPastEnd) {
			t.Errorf("%s: err = %v, want ErrSkipPastEnd", format, err)
		}
	}
}

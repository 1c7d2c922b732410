package ingest

import (
	"bytes"
	"strings"
	"testing"
)

func TestCSVHeaderErrors(t *testing.T) {
	tests := []struct {
		input, want string
	}{
		{"a,b,a\n1,2,3\n", `duplicate column "a"`},
		{"a,,c\n", "column 2 has no name"},
		{"\"a\n", "csv header"},
		{"a,b\n1,2\n", ""},
	}
	for _, tc := range tests {
		_, err := decodeAll(t, "csv", []byte(tc.input), DecoderOptions{})
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: err = %v, want %q", tc.input, err, tc.want)
		}
	}
	if _, err := decodeAll(t, "csv", []byte("abc,def\n1,2\n"), DecoderOptions{Skip: 3}); err == nil {
		t.Error("skip inside the header accepted")
	}
}

func TestCSVEmptyAndHeaderOnly(t *testing.T) {
	for _, in := range []string{"", "\xef\xbb\xbf", "a,b\n", "a,b\n\n\n"} {
		recs, err := decodeAll(t, "csv", []byte(in), DecoderOptions{})
		if err != nil || len(recs) != 0 {
			t.Errorf("%q: %d records, %v", in, len(recs), err)
		}
	}
}

func TestCSVHeaderMethod(t *testing.T) {
	d, _ := NewDecoder("csv", strings.NewReader("\xef\xbb\xbfx,y\n1,2\n"), DecoderOptions{})
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	h := d.(interface{ Header() []string }).Header()
	if strings.Join(h, "|") != "x|y" {
		t.Errorf("Header = %q", h)
	}
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "a,b\r\n\"x,\ny\",\"q\"\"\"\r\n3\n4,5", "\xef\xbb\xbfa\n\"bad\"x\nz\n",
		"a,b\n1,2,3\n\"open\n", "h\n\n\n1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := decodeAll(t, "csv", data, DecoderOptions{})
		if err != nil {
			return // a bad header is fatal by design
		}
		prev := int64(0)
		for _, r := range recs {
			if r.Offset <= prev || r.Offset > int64(len(data)) || r.Line < 2 {
				t.Fatalf("record at line %d offset %d after %d (input %d bytes)", r.Line, r.Offset, prev, len(data))
			}
			if !bytes.Contains(data[prev:r.Offset], r.Raw) {
				t.Fatalf("raw %q is not the input between %d and %d", r.Raw, prev, r.Offset)
			}
			prev = r.Offset
		}
		checkResume(t, "csv", data, recs, DecoderOptions{})
		// A ragged or malformed row never hides the rows after it.
		tail := []byte("\n\"\"\n")
		more, err := decodeAll(t, "csv", append(bytes.Clone(data), tail...), DecoderOptions{})
		if err == nil && len(more) > 0 && bytes.Count(data, []byte(`"`))%2 == 0 && len(more) < len(recs) {
			t.Fatalf("appending a row lost records: %d < %d", len(more), len(recs))
		}
	})
}

package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestJSONLLongLines(t *testing.T) {
	big := `{"k":"` + strings.Repeat("x", 200<<10) + `"}`
	input := `{"a":1}` + "\n" + big + "\n" + `{"b":2}` + "\n" + big
	tests := []struct {
		name    string
		max     int
		wantErr []bool
	}{
		{"fits default", 0, []bool{false, false, false, false}},
		{"exactly fits", len(big), []bool{false, false, false, false}},
		{"too long", 100 << 10, []bool{false, true, false, true}},
		{"one byte short", len(big) - 1, []bool{false, true, false, true}},
	}
	for _, tc := range tests {
		recs, err := decodeAll(t, "jsonl", []byte(input), DecoderOptions{MaxRecordBytes: tc.max})
		if err != nil || len(recs) != len(tc.wantErr) {
			t.Fatalf("%s: %d records, %v", tc.name, len(recs), err)
		}
		for i, r := range recs {
			if (r.Err != nil) != tc.wantErr[i] {
				t.Errorf("%s: record %d err = %v", tc.name, i+1, r.Err)
			}
			if r.Err != nil && (len(r.Raw) != oversizeRaw || !strings.Contains(r.Err.Error(), "exceeds")) {
				t.Errorf("%s: record %d raw %d bytes, err %v", tc.name, i+1, len(r.Raw), r.Err)
			}
		}
		if recs[2].Line != 3 || recs[2].Offset != int64(len(`{"a":1}`)+len(big)+len(`{"b":2}`)+3) {
			t.Errorf("%s: record 3 at line %d offset %d", tc.name, recs[2].Line, recs[2].Offset)
		}
	}
}

// splitLines is the oracle for FuzzJSONL: the lines that are records (non-blank, or longer
// than max, which is checked before a BOM is stripped), without their line ends.
func splitLines(data []byte, max int) (lines [][]byte, tooLong []bool) {
	for i, l := range bytes.Split(data, []byte("\n")) {
		l = bytes.TrimSuffix(l, []byte("\r"))
		long := len(l) > max
		if i == 0 {
			l = bytes.TrimPrefix(l, []byte("\xef\xbb\xbf"))
		}
		if long || len(bytes.TrimSpace(l)) > 0 {
			lines, tooLong = append(lines, l), append(tooLong, long)
		}
	}
	return lines, tooLong
}

func FuzzJSONL(f *testing.F) {
	for _, s := range []string{"{}\n", "{\"a\":1}\n{bad\n{\"b\":2}", "\n\n", "[1]\n{\"x\":[{}]}\r\n",
		"\xef\xbb\xbf{\"a\":\"\\u00e9\"}", "{\"a\":1}{\"b\":2}\n{\"c\":3}", "null\n\"s\"\n1e5\n{\"n\":1e400}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := decodeAll(t, "jsonl", data, DecoderOptions{MaxRecordBytes: 64})
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(data, []byte("\xfe\xff")) || bytes.HasPrefix(data, []byte("\xff\xfe")) {
			// A UTF-16 byte-order mark wins over the declared encoding (the text is converted
			// first), so the line oracle below, which reads UTF-8, does not apply; every record
			// the decoder accepts must still be one valid JSON object, never a replaced byte.
			for _, r := range recs {
				if r.Err == nil && (!json.Valid(r.Raw) || !bytes.HasPrefix(bytes.TrimSpace(r.Raw), []byte("{")) ||
					bytes.Contains(r.Raw, []byte("\uFFFD")) && !bytes.Contains(data, []byte("\xff\xfd"))) {
					t.Fatalf("UTF-16 input %q: accepted record %q", data, r.Raw)
				}
			}
			return
		}
		lines, tooLong := splitLines(data, 64)
		if len(recs) != len(lines) {
			t.Fatalf("%d records for %d non-blank lines", len(recs), len(lines))
		}
		for i, r := range recs {
			raw := lines[i]
			// Invalid UTF-8 and escapes of a lone surrogate are refused (json.Valid accepts both;
			// decoding them would invent U+FFFD).
			valid := json.Valid(raw) && utf8.Valid(raw) && LoneSurrogate(raw) < 0 &&
				bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) && !tooLong[i]
			if valid != (r.Err == nil) {
				t.Fatalf("line %q: err = %v, want valid=%v", raw, r.Err, valid)
			}
			if r.Err == nil && !bytes.Equal(r.Raw, raw) {
				t.Fatalf("raw %q, want %q", r.Raw, raw)
			}
		}
		checkResume(t, "jsonl", data, recs, DecoderOptions{MaxRecordBytes: 64})
	})
}

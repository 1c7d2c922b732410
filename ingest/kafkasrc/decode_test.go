package kafkasrc

import (
	"encoding/json"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestDecodeMessages(t *testing.T) {
	tests := []struct {
		name  string
		value string
		good  []string // the "a" field of each good record, in order
		bad   int
	}{
		{"object", `{"a":"x","n":1.50}`, []string{"x"}, 0},
		{"object with spaces", " \n{\"a\":\"x\"}\n ", []string{"x"}, 0},
		{"array of objects", `[{"a":"x"},{"a":"y"}]`, []string{"x", "y"}, 0},
		{"empty array", `[]`, nil, 0},
		{"array with a non-object", `[{"a":"x"},7,{"a":"z"}]`, []string{"x", "z"}, 1},
		{"truncated", `{"a":`, nil, 1},
		{"trailing data", `{"a":"x"} {"a":"y"}`, nil, 1},
		{"scalar", `"hello"`, nil, 1},
		{"null", `null`, nil, 1},
		{"empty", ``, nil, 1},
		{"broken array", `[{"a":"x"},`, nil, 1},
		{"invalid UTF-8", "{\"a\":\"M\xfcller\"}", nil, 1},
		{"invalid UTF-8 in an array", "[{\"a\":\"x\"},{\"a\":\"\xff\"}]", nil, 1},
		{"lone surrogate escape", `{"a":"\udc00"}`, nil, 1},
		{"U+FFFD in the input is kept", "{\"a\":\"\xef\xbf\xbd\"}", []string{"\ufffd"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := decodeMessages([]kafka.Message{{Offset: 41, Value: []byte(tc.value)}})
			var good []string
			bad := 0
			for _, r := range recs {
				if r.Offset != 41 || r.Line != 0 || r.Raw == nil && tc.value != "" {
					t.Errorf("record position/raw: %+v", r)
				}
				fields, err := r.Decoded()
				if err != nil {
					bad++
					continue
				}
				good = append(good, fields["a"].(string))
			}
			if bad != tc.bad || len(good) != len(tc.good) {
				t.Fatalf("got good %v bad %d, want good %v bad %d", good, bad, tc.good, tc.bad)
			}
			for i := range good {
				if good[i] != tc.good[i] {
					t.Errorf("good[%d] = %q, want %q", i, good[i], tc.good[i])
				}
			}
		})
	}
}

func TestDecodeKeepsNumbersAndRaw(t *testing.T) {
	value := []byte(`[{"n":12345678901234567890},{"n":1.5}]`)
	recs := decodeMessages([]kafka.Message{{Offset: 7, Value: value}})
	if len(recs) != 2 {
		t.Fatalf("got %d records", len(recs))
	}
	fields, err := recs[0].Decoded()
	if n, ok := fields["n"].(json.Number); err != nil || !ok || n.String() != "12345678901234567890" {
		t.Errorf("n = %#v (%v), want json.Number 12345678901234567890", fields["n"], err)
	}
	if string(recs[1].Raw) != `{"n":1.5}` {
		t.Errorf("raw of element = %q", recs[1].Raw)
	}
	bad := decodeMessages([]kafka.Message{{Offset: 9, Value: []byte(`{oops`)}})
	if _, err := bad[0].Decoded(); err == nil || string(bad[0].Raw) != `{oops` {
		t.Errorf("malformed: %+v", bad[0])
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[{"a":1},2]`, `[`, ``, `{"a":[1,{"b":null}]}`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		for _, r := range decodeMessages([]kafka.Message{{Offset: 3, Value: value}}) {
			fields, err := r.Decoded()
			if r.Offset != 3 || (err == nil) == (fields == nil) {
				t.Fatalf("record %+v: want offset 3 and exactly one of fields, error", r)
			}
		}
	})
}

// TestDecodeInvalidUTF8NamesTheOffset: the dead letter's reason names the byte offset in the value.
func TestDecodeInvalidUTF8NamesTheOffset(t *testing.T) {
	recs := decodeMessages([]kafka.Message{{Offset: 7, Value: []byte("{\"a\":\"M\xfcller\"}")}})
	if len(recs) != 1 || recs[0].Err == nil || recs[0].Err.Error() != "kafka value: invalid UTF-8: byte 0xFC at offset 7" {
		t.Fatalf("records %+v", recs)
	}
}

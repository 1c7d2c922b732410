package ingest

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf16"
)

// utf16le encodes s as UTF-16LE, with a BOM when bom is set.
func utf16le(s string, bom bool) []byte {
	var b []byte
	if bom {
		b = append(b, 0xFF, 0xFE)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func utf16be(s string) []byte {
	b := []byte{0xFE, 0xFF}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

func TestDecodersTextEncodings(t *testing.T) {
	type want struct {
		line  int64
		name  string // Fields["name"], or "" for a record with Err
		errIn string // substring of Err
	}
	tests := []struct {
		name, format, encoding string
		in                     []byte
		want                   []want
	}{
		{"jsonl invalid utf-8 offset", "jsonl", "", []byte("{\"name\":\"ok\"}\n{\"name\":\"M\xfcller\"}\n{\"name\":\"b\"}\n"),
			[]want{{1, "ok", ""}, {2, "", "byte 0xFC at offset 24"}, {3, "b", ""}}},
		{"jsonl truncated multibyte", "jsonl", "", []byte("{\"name\":\"\xc3\"}\n"),
			[]want{{1, "", "byte 0xC3 at offset 9"}}},
		{"jsonl utf-8 BOM and CRLF", "jsonl", "", []byte("\xef\xbb\xbf{\"name\":\"M\xc3\xbcller\"}\r\n{\"name\":\"x\xff\"}\r\n"),
			[]want{{1, "Müller", ""}, {2, "", "byte 0xFF at offset 33"}}},
		{"jsonl U+FFFD in input is kept", "jsonl", "", []byte("{\"name\":\"a\xef\xbf\xbd\"}\n{\"name\":\"b\\ufffd\"}\n"),
			[]want{{1, "a\ufffd", ""}, {2, "b\ufffd", ""}}},
		{"jsonl lone surrogate escape", "jsonl", "", []byte("{\"name\":\"a\\ud800\"}\n{\"name\":\"\\ud83d\\ude00\"}\n{\"name\":\"\\\\ud800\"}\n"),
			[]want{{1, "", "unpaired UTF-16 surrogate"}, {2, "😀", ""}, {3, `\ud800`, ""}}},
		{"jsonl latin1", "jsonl", "latin1", []byte("{\"name\":\"M\xfcller\"}\n"),
			[]want{{1, "Müller", ""}}},
		{"jsonl windows-1252", "jsonl", "windows-1252", []byte("{\"name\":\"\x80 5\"}\r\n"),
			[]want{{1, "€ 5", ""}}},
		{"jsonl utf-16 with BOM", "jsonl", "utf-16", utf16le("{\"name\":\"Müller\"}\r\n{\"name\":\"😀\"}\r\n", true),
			[]want{{1, "Müller", ""}, {2, "😀", ""}}},
		{"jsonl utf-16 BOM honoured undeclared", "jsonl", "", utf16le("{\"name\":\"Ünïcode\"}\n", true),
			[]want{{1, "Ünïcode", ""}}},
		{"jsonl utf-16BE BOM", "jsonl", "utf-16", utf16be("{\"name\":\"ß\"}\n"),
			[]want{{1, "ß", ""}}},
		{"jsonl utf-16 without BOM is little-endian", "jsonl", "utf-16", utf16le("{\"name\":\"ö\"}\n", false),
			[]want{{1, "ö", ""}}},
		{"jsonl utf-8 BOM beats latin1", "jsonl", "latin1", []byte("\xef\xbb\xbf{\"name\":\"\xc3\xbc\"}\n"),
			[]want{{1, "ü", ""}}},
		{"csv invalid utf-8 offset", "csv", "", []byte("id,name\n1,ok\n2,M\xfcller\n3,b\n"),
			[]want{{2, "ok", ""}, {3, "", "byte 0xFC at offset 16"}, {4, "b", ""}}},
		{"csv latin1 CRLF", "csv", "latin1", []byte("id,name\r\n1,M\xfcller\r\n2,\"Gr\xfc\xdfe\"\r\n"),
			[]want{{2, "Müller", ""}, {3, "Grüße", ""}}},
		{"csv utf-8 BOM", "csv", "", []byte("\xef\xbb\xbfid,name\n1,Zoë\n"),
			[]want{{2, "Zoë", ""}}},
		{"csv utf-16 excel export", "csv", "utf-16", utf16le("id,name\r\n1,Łódź\r\n", true),
			[]want{{2, "Łódź", ""}}},
		{"csv windows-1252", "csv", "windows-1252", []byte("id,name\n1,\x93quoted\x94\n"),
			[]want{{2, "\u201cquoted\u201d", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := decodeAll(t, tt.format, tt.in, DecoderOptions{Encoding: tt.encoding})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(tt.want) {
				t.Fatalf("got %d records, want %d: %s", len(recs), len(tt.want), dump(recs))
			}
			for i, w := range tt.want {
				r := recs[i]
				if r.Line != w.line {
					t.Errorf("record %d: line %d, want %d", i, r.Line, w.line)
				}
				if w.errIn != "" {
					if r.Err == nil || !strings.Contains(r.Err.Error(), w.errIn) {
						t.Errorf("record %d: err %v, want it to contain %q", i, r.Err, w.errIn)
					}
					continue
				}
				if r.Err != nil {
					t.Fatalf("record %d: %v", i, r.Err)
				}
				if got := r.Fields["name"]; got != w.name {
					t.Errorf("record %d: name %q, want %q", i, got, w.name)
				}
			}
		})
	}
}

// TestInvalidBytesNeverBecomeReplacementChars decodes inputs holding every kind of bad byte:
// each record either fails with an offset or decodes to text without U+FFFD.
func TestInvalidBytesNeverBecomeReplacementChars(t *testing.T) {
	var in bytes.Buffer
	for b := 0x80; b <= 0xFF; b++ {
		in.WriteString(`{"name":"x`)
		in.WriteByte(byte(b))
		in.WriteString("\"}\n")
	}
	for _, format := range []string{"jsonl", "csv"} {
		data := in.Bytes()
		if format == "csv" {
			data = append([]byte("name\n"), bytes.ReplaceAll(bytes.ReplaceAll(data, []byte(`{"name":"`), nil), []byte(`"}`), nil)...)
		}
		recs, err := decodeAll(t, format, data, DecoderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 128 {
			t.Fatalf("%s: %d records, want 128", format, len(recs))
		}
		for _, r := range recs {
			if r.Err == nil {
				t.Errorf("%s line %d: %q decoded without error", format, r.Line, r.Fields["name"])
			} else if !strings.Contains(r.Err.Error(), "invalid UTF-8") {
				t.Errorf("%s line %d: %v", format, r.Line, r.Err)
			}
		}
	}
}

func TestUnknownEncodingIsRefused(t *testing.T) {
	if _, err := NewDecoder("csv", strings.NewReader(""), DecoderOptions{Encoding: "ebcdic"}); err == nil {
		t.Fatal("NewDecoder accepted encoding ebcdic")
	}
}

func TestInvalidUTF8Index(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"", -1}, {"abc", -1}, {"ü", -1}, {"a\xff", 1}, {"\xc3", 0}, {"ab\xe2\x82", 2}, {"\xed\xa0\x80", 0}, {"ok😀\xf0\x9f", 6},
	} {
		if got := InvalidUTF8([]byte(tt.in)); got != tt.want {
			t.Errorf("InvalidUTF8(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

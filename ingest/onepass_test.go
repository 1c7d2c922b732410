package ingest

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/schema"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// onePassTables are the tables the one-pass path is compared on: plain flat columns of every
// type, defaults, required columns, unix and layout times, pointers to top-level fields, two
// columns reading one field, case-only matches, unknown_fields: reject, on_long_string:
// truncate, and a nested path (which always falls back).
var onePassTables = []config.Table{
	{Name: "bench", Columns: []config.Column{
		{Name: "id", Type: "Int64"}, {Name: "device", Type: "String"}, {Name: "site", Type: "String"},
		{Name: "at", Type: "DateTime"}, {Name: "temp", Type: "Double"}, {Name: "humidity", Type: "Double"},
		{Name: "ok", Type: "Boolean"}, {Name: "note", Type: "String"}}},
	{Name: "coerce", Columns: []config.Column{
		{Name: "i", Type: "int64", Required: true, Default: 0}, {Name: "f", Type: "double"},
		{Name: "m", Type: "decimal"}, {Name: "b", Type: "bool"}, {Name: "d", Type: "datetime"},
		{Name: "u", Type: "datetime", Unix: "ms"}, {Name: "s", Type: "string"},
		{Name: "x", Type: "string", From: "/n"}, {Name: "ts", Type: "datetime", Timestamp: "ingest"}}},
	{Name: "strict", UnknownFields: "reject", Columns: []config.Column{
		{Name: "Name", Type: "String", Required: true}, {Name: "count", Type: "Int64", Default: 7},
		{Name: "when", Type: "DateTime", Layout: "02/01/2006 15:04"}, {Name: "flag", Type: "Boolean", Default: false},
		{Name: "amount", Type: "Decimal", From: "Amount"}}},
	{Name: "loose", OnLongString: "truncate", Columns: []config.Column{
		{Name: "s", Type: "String"}, {Name: "t1", Type: "String", From: "k"}, {Name: "t2", Type: "Int64", From: "k"},
		{Name: "t3", Type: "Double", From: "k"}, {Name: "t4", Type: "Boolean", From: "k"}, {Name: "a", Type: "String"},
		{Name: "A", Type: "Int64"}, {Name: "É", Type: "String"}, {Name: "secs", Type: "DateTime", Unix: "s"},
		{Name: "read", Type: "DateTime", Timestamp: "ingest"}}},
	{Name: "nested", Columns: []config.Column{{Name: "id", Type: "Int64"}, {Name: "c", Type: "String", From: "a.b"}}},
}

// mapPathRow is the row the map path gives for one JSON line: the decoder's checks and
// decoding, then Coerce.
func mapPathRow(tb *schema.Table, line []byte, now time.Time) ([]byte, error) {
	if err := checkJSONText(line, 0); err != nil {
		return nil, err
	}
	fields, err := parseObject(line)
	if err != nil {
		return nil, err
	}
	return tb.Coerce(fields, now)
}

// compileBoth compiles each table twice: one copy for each path, so their unknown-field counts
// can be compared.
func compileBoth(t testing.TB) (fast, slow []*schema.Table) {
	for _, ct := range onePassTables {
		a, err := schema.Compile(ct)
		if err != nil {
			t.Fatal(err)
		}
		b, err := schema.Compile(ct)
		if err != nil {
			t.Fatal(err)
		}
		fast, slow = append(fast, a), append(slow, b)
	}
	return fast, slow
}

// ambiguousCase has two fields that differ only in case from one column's field (Name of table
// strict) and not its exact field: the map path reads either, at random (map order), so the
// one-pass path leaves it to the map path and the Writer comparison skips it.
const ambiguousCase = `{"name":"x","NAME":"y"}`

// onePassSeeds are the golden inputs of ingest and schema, line by line, plus edge cases.
func onePassSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, f := range []string{"testdata/mixed.jsonl", "../schema/testdata/coerce/records.jsonl"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			seeds = append(seeds, l)
		}
	}
	for _, s := range []string{
		`{"id":1,"device":"sensor-1001","site":"plant-north-03","at":"2026-11-01T08:00:01Z","temp":15.027,"humidity":40.03,"ok":true,"note":"xxxxxxxx"}`,
		`{"i":1,"d":"2024-01-01T00:00:00Z","s":"x","b":true,"f":1.5,"m":"1.23456"}`, `{"i":"9223372036854775807"}`,
		`{"i":"1e9999"}`, `{"u":"1e4000"}`, `{"n":{"x":[1,2]}}`, `{"s":{"a":"b"},"d":"2024-01-01 00:00","u":-1.5}`,
		`{"f":"-0"}`, `{"m":"-0.00001"}`, `{"i":1,"s":"a<b & \u2028 \"q\" \\ \/ \u00e9 \ud83d\ude00 \t"}`,
		`{"i":1,"s":"` + "\u2029\x7f<>" + `"}`, `{"i":1,"i":2}`, `{"I":1}`, `{"i":1,"I":2}`, `{"I":1,"I":2}`,
		ambiguousCase, `{"name":"x"}`, `{"Name":"x","extra":1}`, `{"Name":"","count":""}`,
		`{"Name":"x","when":"01/05/2024 12:00","amount":"1.00005"}`, `{"k":"1"}`, `{"k":1}`, `{"k":true}`,
		`{"k":" 2 "}`, `{"k":""}`, `{"k":null}`, `{"a":"x","A":1}`, `{"é":"lower"}`, `{"É":"upper"}`,
		`{"secs":1714566896.5}`, `{"secs":"1714566896"}`, `{"s":"` + strings.Repeat("é", 4001) + `"}`,
		`{"s":"` + strings.Repeat("\U0001F600", 2001) + `"}`, `{"x":1,"y":2,"x":3}`, ` {"i":1} `, "\t{\"i\":1}\r",
		`{"i":1}x`, `{"i":1} {"i":2}`, `{"i":01}`, `{"i":-}`, `{"i":1.}`, `{"i":.5}`, `{"i":1e}`, `{"i":tru}`,
		`{"i":"\ud800"}`, `{"i":"\udc00\ud800"}`, `{"i":"\ud800\u0041"}`, "{\"i\":\"\x01\"}", "{\"i\":\"\xff\"}",
		`{"i":[1,{"a":[]}],"s":[]}`, `{"i":1,"s":{}}`, `{"id":1,"c":"flat","a":{"b":"deep"}}`, `{"a.b":"dotted"}`,
		`{"temp":0.0001,"humidity":0.00001,"at":"2024-02-29T23:59:59.999Z"}`, `{"temp":123456.5,"humidity":1234567.5}`,
		`{"temp":-0,"humidity":0.1234567890123456,"at":"2023-02-29T00:00:00Z"}`, `{"temp":1.10,"humidity":100,"at":"0000-01-01T00:00:00Z"}`,
		`{"temp":999999.999999999,"humidity":0.000123456789012345,"at":"2024-04-31T00:00:00Z"}`, `{"temp":-0.0,"at":"2024-01-01T24:00:00Z"}`,
		`{"temp":12345678901234567,"humidity":1.7976931348623157e308,"at":"2024-01-01T00:00:60Z"}`, `{"at":"2024-01-01T00:00:00,123Z"}`,
		`{"at":"2024-01-01T00:00:00.1Z"}`, `{"at":"2024-01-01T00:00:00.123456Z"}`, `{"at":"2024-01-01 00:00:00Z"}`, `{"at":"9999-12-31T23:59:59Z"}`,
		`{}`, `{"unknown":1}`, `[]`, `null`, `{"i":1,}`, `{,}`, `{"i" 1}`, `{"i":1 "s":"x"}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// FuzzOnePassMatchesMapPath checks that whenever the one-pass path builds a row, the map path
// (decode into a map, then Coerce) accepts the same line and builds the same bytes, and counts
// the same unknown fields; when the one-pass path declines, it counts nothing (the Writer then
// takes the map path, so both paths refuse the same inputs with the same errors).
func FuzzOnePassMatchesMapPath(f *testing.F) {
	for _, s := range onePassSeeds(f) {
		f.Add(s)
	}
	fast, slow := compileBoth(f)
	now := time.Date(2025, 1, 2, 3, 4, 5, 678999999, time.UTC)
	f.Fuzz(func(t *testing.T, line []byte) {
		for i, ft := range fast {
			st := slow[i]
			f0, s0 := ft.UnknownIgnored(), st.UnknownIgnored()
			got, ok := ft.AppendJSONRow([]byte("prefix"), line, now)
			if !ok {
				if string(got) != "prefix" || ft.UnknownIgnored() != f0 {
					t.Fatalf("table %s: declined %q but changed dst (%q) or counted unknown fields", ft.Name(), line, got)
				}
				continue
			}
			want, err := mapPathRow(st, line, now)
			if err != nil {
				t.Fatalf("table %s: one pass accepted %q as %s; map path refused: %v", ft.Name(), line, got, err)
			}
			if !bytes.Equal(got[len("prefix"):], want) {
				t.Fatalf("table %s: %q\none pass: %s\nmap path: %s", ft.Name(), line, got[len("prefix"):], want)
			}
			if df, ds := ft.UnknownIgnored()-f0, st.UnknownIgnored()-s0; df != ds {
				t.Fatalf("table %s: %q: one pass counted %d unknown fields, map path %d", ft.Name(), line, df, ds)
			}
		}
	})
}

// TestOnePassTakesPlainRows makes sure the differential test compares something: the plain
// cases are built in one pass.
func TestOnePassTakesPlainRows(t *testing.T) {
	fast, _ := compileBoth(t)
	now := time.Unix(0, 0)
	for _, tc := range []struct {
		table int
		line  string
		want  string
	}{
		{0, `{"id":1,"device":"d","site":"s","at":"2026-11-01T08:00:01Z","temp":15.027,"humidity":40.03,"ok":true,"note":"n"}`,
			`{"id":1,"device":"d","site":"s","at":"2026-11-01T08:00:01.000Z","temp":15.027,"humidity":40.03,"ok":true,"note":"n"}`},
		{1, ` {"I":"2","s":"\u00e9\"","n":3,"zz":null} `, `{"i":2,"s":"é\"","x":"3","ts":"1970-01-01T00:00:00.000Z"}`},
		{2, `{"name":"x","when":"01/05/2024 12:00"}`, `{"Name":"x","count":7,"when":"2024-05-01T12:00:00.000Z","flag":false}`},
		{3, `{"k":"1","secs":2}`, `{"t1":"1","t2":1,"t3":1,"t4":true,"secs":"1970-01-01T00:00:02.000Z","read":"1970-01-01T00:00:00.000Z"}`},
	} {
		got, ok := fast[tc.table].AppendJSONRow(nil, []byte(tc.line), now)
		if !ok || string(got) != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.line, got, ok, tc.want)
		}
	}
	if _, ok := fast[4].AppendJSONRow(nil, []byte(`{"id":1}`), now); ok {
		t.Error("a table with a nested path took the one-pass path")
	}
}

// TestWriterDeferredMatchesDecoded writes the same JSON lines through decoded and deferred
// records: the spool writes (rows, dead letters with position and reason, positions) and the
// unknown-field counts are the same.
func TestWriterDeferredMatchesDecoded(t *testing.T) {
	var input bytes.Buffer
	input.WriteString("\xef\xbb\xbf")
	for _, s := range onePassSeeds(t) {
		if string(s) == ambiguousCase {
			continue
		}
		input.Write(bytes.ReplaceAll(s, []byte("\n"), nil))
		input.WriteString("\r\n")
	}
	input.WriteString(`{"i":` + strings.Repeat("1", 100) + `}`)
	now := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	fast, slow := compileBoth(t)
	for i := range fast {
		var writes [2]spool.Write
		for j, tb := range []*schema.Table{fast[i], slow[i]} {
			recs, err := decodeAll(t, "jsonl", input.Bytes(), DecoderOptions{Deferred: j == 0, MaxRecordBytes: 8000})
			if err != nil {
				t.Fatal(err)
			}
			fs := &recordingSpool{}
			w := &Writer{Queue: spool.QueueKey{Dataset: "D", Table: tb.Name()}, Table: tb, Spool: fs,
				Now: func() time.Time { return now }, Positions: true}
			if _, err := w.Write(context.Background(), "in.jsonl", recs, nil); err != nil {
				t.Fatal(err)
			}
			writes[j] = fs.writes[0]
		}
		if !reflect.DeepEqual(writes[0], writes[1]) {
			t.Errorf("table %s: deferred write differs:\n%s\ndecoded:\n%s", fast[i].Name(), dumpWrite(writes[0]), dumpWrite(writes[1]))
		}
		if fast[i].UnknownIgnored() != slow[i].UnknownIgnored() {
			t.Errorf("table %s: unknown fields %d deferred, %d decoded", fast[i].Name(), fast[i].UnknownIgnored(), slow[i].UnknownIgnored())
		}
		if len(writes[0].Rows) == 0 || len(writes[0].DeadLetters) == 0 {
			t.Errorf("table %s: %d rows, %d dead letters: the comparison is empty", fast[i].Name(), len(writes[0].Rows), len(writes[0].DeadLetters))
		}
	}
}

func dumpWrite(w spool.Write) string {
	var b strings.Builder
	for i, r := range w.Rows {
		b.WriteString(w.Positions[i] + " " + string(r) + "\n")
	}
	for _, d := range w.DeadLetters {
		b.WriteString(d.Position + " dead: " + d.Reason + "\n")
	}
	return b.String()
}

// TestFieldNamesDeferred: WatchFields sees the same names for a deferred record.
func TestFieldNamesDeferred(t *testing.T) {
	input := []byte("{bad\n{\"b\":1,\"a\":2}\n")
	for _, deferred := range []bool{false, true} {
		recs, err := decodeAll(t, "jsonl", input, DecoderOptions{Deferred: deferred})
		if err != nil {
			t.Fatal(err)
		}
		if FieldNames(recs[0]) != nil || !reflect.DeepEqual(FieldNames(recs[1]), []string{"a", "b"}) {
			t.Errorf("deferred=%v: names %v, %v", deferred, FieldNames(recs[0]), FieldNames(recs[1]))
		}
	}
}

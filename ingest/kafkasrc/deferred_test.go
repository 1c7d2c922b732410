package kafkasrc

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest"
	"github.com/pbi-pusher/pbi-pusher/schema"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// capture keeps each Write, its rows copied (as the spool does).
type capture struct{ writes []spool.Write }

func (c *capture) Append(_ context.Context, w spool.Write) error {
	rows := make([][]byte, len(w.Rows))
	for i, r := range w.Rows {
		rows[i] = bytes.Clone(r)
	}
	w.Rows = rows
	c.writes = append(c.writes, w)
	return nil
}

// FuzzDeferredMatchesDecoded: Kafka values written as the source hands them over (objects left
// for the Writer's one-pass path) give the same spool write (rows, dead letters with position
// and reason) as the same records decoded first.
func FuzzDeferredMatchesDecoded(f *testing.F) {
	for _, s := range []string{`{"id":1,"name":"a","at":"2024-01-01T00:00:00Z"}`, `[{"id":1},{"id":"2"},7,{"ID":3}]`,
		`{"id":1,"extra":[1,{"x":null}]}`, ` {"id":1} `, "\n{\"id\":1}", `{"id":1}{"id":2}`, `{"id":`, `null`, ``,
		`{"name":"\u00e9\ud83d\ude00<&>"}`, `{"id":1.5}`, `{"id":1,"id":2}`, "{\"name\":\"\xff\"}", `{"name":"\udc00"}`} {
		f.Add([]byte(s))
	}
	cfg := config.Table{Name: "T", Columns: []config.Column{{Name: "id", Type: "Int64"}, {Name: "name", Type: "String"},
		{Name: "at", Type: "DateTime"}, {Name: "read", Type: "DateTime", Timestamp: "ingest"}}}
	fast, err := schema.Compile(cfg)
	if err != nil {
		f.Fatal(err)
	}
	slow, err := schema.Compile(cfg)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, value []byte) {
		deferred := decodeMessages([]kafka.Message{{Offset: 5, Value: value}})
		decoded := make([]ingest.Record, len(deferred))
		for i, r := range deferred {
			fields, err := r.Decoded()
			if caseAmbiguous(fields, "id", "name", "at", "read") {
				return // the map path itself picks one of the fields at random
			}
			decoded[i] = ingest.Record{Offset: r.Offset, Raw: r.Raw, Fields: fields, Err: err}
		}
		var writes [2]spool.Write
		for i, in := range []struct {
			tb   *schema.Table
			recs []ingest.Record
		}{{fast, deferred}, {slow, decoded}} {
			c := &capture{}
			w := &ingest.Writer{Queue: spool.QueueKey{Dataset: "D", Table: "T"}, Table: in.tb, Spool: c,
				Now: func() time.Time { return now }}
			if _, err := w.Write(context.Background(), "topic/0", in.recs, nil); err != nil {
				t.Fatal(err)
			}
			writes[i] = c.writes[0]
		}
		if !reflect.DeepEqual(writes[0], writes[1]) {
			t.Fatalf("value %q:\ndeferred %+v\ndecoded  %+v", value, writes[0], writes[1])
		}
	})
}

// caseAmbiguous reports whether two fields differ only in case from one of names, which is
// itself absent: Coerce reads either of them (map order).
func caseAmbiguous(fields map[string]any, names ...string) bool {
	for _, n := range names {
		if _, exact := fields[n]; exact {
			continue
		}
		matches := 0
		for k := range fields {
			if strings.ToLower(k) == strings.ToLower(n) {
				matches++
			}
		}
		if matches > 1 {
			return true
		}
	}
	return false
}

package httpsrc_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest/httpsrc"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// FuzzHandler posts arbitrary bodies (plain or gzip) to the handler with a real spool behind
// it: it must never panic, must answer 200 with an empty body or an error in Power BI's shape
// whose text never names a Go type, and must spool rows only on 200, as valid UTF-8.
func FuzzHandler(f *testing.F) {
	for _, s := range []string{goodBody, `{"rows":[]}`, `{"rows":[{"Name":"a\u00fc"}]}`, "{\"rows\":[{\"Name\":\"\xfc\"}]}",
		`{"rows":[[1]]}`, `{"rows":{}}`, `[]`, `{"rows":[{"Name":"x","Value":"1e400"}]}`, `{"x":1,"rows":[{"Name":"\ud800"}]}`, ``} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(gz(goodBody)), true)
	e := newEnv(f, spool.Options{})
	var c counts
	h := newServer(f, config.Source{}, httpsrc.Options{Resolve: e.resolve, Rejected: c.add, MaxBodyBytes: 1 << 16}).Handler()
	f.Fuzz(func(t *testing.T, body []byte, gzipped bool) {
		before := e.backlog()
		req := httptest.NewRequest(http.MethodPost, rowsURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if gzipped {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		added := e.backlog() - before
		if rec.Code == http.StatusOK {
			if rec.Body.Len() != 0 {
				t.Fatalf("200 with a body: %q", rec.Body.String())
			}
			return
		}
		if added != 0 {
			t.Fatalf("status %d but %d rows spooled", rec.Code, added)
		}
		var pe pbiError
		if err := json.Unmarshal(rec.Body.Bytes(), &pe); err != nil || pe.Error.Code == "" || pe.Error.Message == "" {
			t.Fatalf("status %d with body %q: not a Power BI error", rec.Code, rec.Body.String())
		}
		if goTypeName.Match(rec.Body.Bytes()) || !utf8.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer names a Go type or is not UTF-8: %s", rec.Body.String())
		}
	})
}

package sink

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// scripted answers GET dataset ds1 with 200 and POST rows with the case's response.
type scripted struct {
	status int
	header map[string]string
	body   string
}

func (s scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte(`{"id":"ds1","name":"sales","addRowsAPIEnabled":true}`))
		return
	}
	for k, v := range s.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(s.status)
	_, _ = w.Write([]byte(s.body))
}

// resolvedClient is a client for srv whose dataset "sales" is already resolved to ds1.
func resolvedClient(t *testing.T, srv *httptest.Server, tokens TokenSource) *Client {
	t.Helper()
	c := newClient(t, oneTable(srv.URL+"/v1.0/myorg", "sales", "orders", cols("id", "Int64")), tokens, nil, srv.Client())
	c.sets["sales"].setID("ds1")
	c.now = func() time.Time { return fixedNow }
	return c
}

func TestClassifyPostRows(t *testing.T) {
	const odata400 = `{"error":{"code":"BadRequest","message":"Bad Request","details":[{"message":"value 'x' is not Int64","target":"id"}]}}`
	tests := []struct {
		name      string
		resp      scripted
		wantClass Class
		wantDelay time.Duration
		wantMsg   string // substring of Message(err)
		wantText  string // substring of err.Error()
	}{
		{name: "200", resp: scripted{status: 200}, wantClass: OK},
		{name: "429 seconds", resp: scripted{status: 429, header: map[string]string{"Retry-After": "7"}}, wantClass: Throttled, wantDelay: 7 * time.Second},
		{name: "429 seconds with spaces", resp: scripted{status: 429, header: map[string]string{"Retry-After": " 3392 "}}, wantClass: Throttled, wantDelay: 3392 * time.Second},
		{name: "429 http-date", resp: scripted{status: 429, header: map[string]string{"Retry-After": fixedNow.Add(90 * time.Second).Format(http.TimeFormat)}}, wantClass: Throttled, wantDelay: 90 * time.Second},
		{name: "429 http-date past", resp: scripted{status: 429, header: map[string]string{"Retry-After": fixedNow.Add(-time.Hour).Format(http.TimeFormat)}}, wantClass: Throttled},
		{name: "429 absent", resp: scripted{status: 429}, wantClass: Throttled},
		{name: "429 garbage", resp: scripted{status: 429, header: map[string]string{"Retry-After": "soon"}}, wantClass: Throttled},
		{name: "429 negative", resp: scripted{status: 429, header: map[string]string{"Retry-After": "-5"}}, wantClass: Throttled},
		{name: "429 absurd capped", resp: scripted{status: 429, header: map[string]string{"Retry-After": "99999999999999999"}}, wantClass: Throttled, wantDelay: maxRetryAfter},
		{name: "429 plain message body", resp: scripted{status: 429, header: map[string]string{"Retry-After": "1"}, body: `{"message":"Retry in 1 seconds."}`}, wantClass: Throttled, wantDelay: time.Second, wantMsg: "Retry in 1 seconds."},
		{name: "429 odata body", resp: scripted{status: 429, body: `{"error":{"code":"TooManyRequests","message":"You are over your rows per hour limit"}}`}, wantClass: Throttled, wantMsg: "rows per hour"},
		{name: "408", resp: scripted{status: 408}, wantClass: Retryable},
		{name: "500 ignores Retry-After", resp: scripted{status: 500, header: map[string]string{"Retry-After": "5"}}, wantClass: Retryable},
		{name: "502", resp: scripted{status: 502, body: "<html>bad gateway</html>"}, wantClass: Retryable, wantMsg: "bad gateway"},
		{name: "503", resp: scripted{status: 503}, wantClass: Retryable},
		{name: "504", resp: scripted{status: 504}, wantClass: Retryable},
		{name: "400 odata details", resp: scripted{status: 400, body: odata400}, wantClass: Rejected, wantMsg: "Bad Request; id: value 'x' is not Int64"},
		{name: "400 detail repeating the message", resp: scripted{status: 400, body: `{"error":{"code":"BadRequest","message":"Row 3: bad","details":[{"message":"Row 3: bad","target":"rows[3]"}]}}`}, wantClass: Rejected, wantMsg: "Row 3: bad (rows[3])"},
		{name: "400 text body", resp: scripted{status: 400, body: "  malformed\n row  "}, wantClass: Rejected, wantMsg: "malformed row"},
		{name: "413", resp: scripted{status: 413, body: `{"error":{"code":"RequestEntityTooLarge","message":"too big"}}`}, wantClass: Rejected, wantMsg: "too big"},
		{name: "401 twice", resp: scripted{status: 401, body: `{"error":{"code":"PowerBINotAuthorizedException","pbi.error":{"code":"PowerBINotAuthorizedException"}}}`}, wantClass: Retryable, wantMsg: "PowerBINotAuthorizedException", wantText: "refused twice"},
		{name: "403 TokenExpired twice", resp: scripted{status: 403, body: `{"error":{"code":"TokenExpired","message":"Access token has expired, resubmit with a new access token"}}`}, wantClass: Retryable, wantMsg: "Access token has expired", wantText: "refused twice"},
		{name: "403", resp: scripted{status: 403, body: `{"error":{"code":"Forbidden","message":"API is not accessible for application"}}`}, wantClass: Fatal, wantMsg: "not accessible", wantText: "Service principals can use Fabric APIs"},
		{name: "404 table", resp: scripted{status: 404, body: `{"error":{"code":"ItemNotFound","message":"Table 'orders' not found"}}`}, wantClass: Fatal, wantText: "schema plan"},
		{name: "404 unknown workspace", resp: scripted{status: 404, body: `{"error":{"code":"PowerBIEntityNotFound","pbi.error":{"code":"PowerBIEntityNotFound","parameters":{},"details":[],"exceptionCulprit":1}}}`}, wantClass: Fatal, wantText: "powerbi.workspace"},
		{name: "404 not push", resp: scripted{status: 404, body: `{"error":{"code":"ItemNotFound","message":"Dataset ds1 is not Push API dataset."}}`}, wantClass: Fatal, wantText: "not a push dataset"},
		{name: "409", resp: scripted{status: 409}, wantClass: Fatal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.resp)
			defer srv.Close()
			c := resolvedClient(t, srv, nil)
			err := c.PostRows(context.Background(), "sales", "orders", 1, [][]byte{[]byte(`{"id":1}`)})
			if got := Classify(err); got != tt.wantClass {
				t.Fatalf("Classify = %v, want %v (err %v)", got, tt.wantClass, err)
			}
			if got := RetryAfter(err); got != tt.wantDelay {
				t.Errorf("RetryAfter = %v, want %v", got, tt.wantDelay)
			}
			if !strings.Contains(Message(err), tt.wantMsg) {
				t.Errorf("Message = %q, want it to contain %q", Message(err), tt.wantMsg)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Error() = %q, want it to contain %q", err.Error(), tt.wantText)
			}
			var e *Error
			if err != nil && (!errors.As(err, &e) || e.Status != tt.resp.status) {
				t.Errorf("err = %#v, want *Error with status %d", err, tt.resp.status)
			}
		})
	}
}

func TestClassifyForbiddenHintIsActionable(t *testing.T) {
	for _, want := range []string{"Service principals can use Fabric APIs", "Contributor", "My workspace", "push dataset"} {
		if !strings.Contains(hintForbidden, want) {
			t.Errorf("403 hint lacks %q", want)
		}
	}
}

func TestClassifyNonRowsBadRequestIsFatal(t *testing.T) {
	srv := httptest.NewServer(scripted{status: 400, body: `{"error":{"code":"BadRequest","message":"bad column"}}`})
	defer srv.Close()
	c := resolvedClient(t, srv, nil)
	err := c.putTable(context.Background(), c.sets["sales"], "ds1", c.sets["sales"].tables[0])
	if Classify(err) != Fatal || Message(err) != "bad column" {
		t.Fatalf("PUT 400: class %v message %q, want fatal \"bad column\"", Classify(err), Message(err))
	}
}

func TestClassifyTransportErrors(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		url     string
		ctx     context.Context
		timeout time.Duration
		check   func(error) bool
	}{
		{name: "connection refused", url: closed.URL, ctx: context.Background(), check: func(err error) bool {
			var op *net.OpError
			return errors.As(err, &op)
		}},
		{name: "shutdown cancel", url: srv.URL, ctx: canceled, check: func(err error) bool {
			return errors.Is(err, context.Canceled) && IsShutdown(err)
		}},
		{name: "request timeout", url: srv.URL, ctx: context.Background(), timeout: 50 * time.Millisecond, check: func(err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout() && !IsShutdown(err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := &http.Client{Timeout: tt.timeout}
			c := newClient(t, oneTable(tt.url, "sales", "orders", cols("id", "Int64")), nil, nil, hc)
			c.sets["sales"].setID("ds1")
			err := c.PostRows(tt.ctx, "sales", "orders", 1, [][]byte{[]byte(`{"id":1}`)})
			if Classify(err) != Retryable || !tt.check(err) {
				t.Fatalf("err = %v (class %v), want retryable with the cause kept", err, Classify(err))
			}
		})
	}
}

func TestClassifyHelpers(t *testing.T) {
	plain := errors.New("boom")
	if Classify(nil) != OK || RetryAfter(nil) != 0 || Message(nil) != "" {
		t.Error("nil error must be OK, no delay, no message")
	}
	if Classify(plain) != Retryable || Message(plain) != "boom" {
		t.Errorf("unclassified error: class %v message %q, want retryable \"boom\"", Classify(plain), Message(plain))
	}
	wrapped := errors.Join(errors.New("ctx"), &Error{Class: Throttled, RetryAfter: time.Second})
	if Classify(wrapped) != Throttled || RetryAfter(wrapped) != time.Second {
		t.Error("wrapped *Error must keep its class and delay")
	}
}

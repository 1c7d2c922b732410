package auth_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/auth"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
)

func TestHTTPClientTrustsCAFile(t *testing.T) {
	r := aad.StartTLS(t, aad.Options{})
	tests := []struct {
		name    string
		pbi     config.PowerBI
		ok      bool
		timeout time.Duration
	}{
		{"with ca_file", config.PowerBI{CAFile: r.CAFile, RequestTimeout: config.Duration(7 * time.Second)}, true, 7 * time.Second},
		{"system roots only", config.PowerBI{}, false, auth.DefaultRequestTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := auth.HTTPClient(&config.Config{PowerBI: tc.pbi})
			if err != nil {
				t.Fatal(err)
			}
			if c.Timeout != tc.timeout {
				t.Errorf("timeout %v, want %v", c.Timeout, tc.timeout)
			}
			resp, err := c.Get(r.URL + "/t/v2.0/.well-known/openid-configuration")
			if err == nil {
				resp.Body.Close()
			}
			if (err == nil) != tc.ok || (err == nil && resp.StatusCode != http.StatusOK) {
				t.Errorf("GET: err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

package sink

import (
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
)

func TestNewBase(t *testing.T) {
	tests := []struct {
		name    string
		p       config.PowerBI
		want    string
		wantErr string
	}{
		{name: "public default", want: "https://api.powerbi.com/v1.0/myorg"},
		{name: "usgov workspace", p: config.PowerBI{Cloud: "usgov", Workspace: "abc"}, want: "https://api.powerbigov.us/v1.0/myorg/groups/abc"},
		{name: "china", p: config.PowerBI{Cloud: "china"}, want: "https://api.powerbi.cn/v1.0/myorg"},
		{name: "api_url wins, trailing slash", p: config.PowerBI{Cloud: "usdod", APIURL: "http://127.0.0.1:9/v1.0/myorg/", Workspace: "w/1"},
			want: "http://127.0.0.1:9/v1.0/myorg/groups/w%2F1"},
		{name: "unknown cloud", p: config.PowerBI{Cloud: "mars"}, wantErr: `unknown powerbi.cloud "mars"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Options{Config: &config.Config{PowerBI: tt.p}, Tokens: &countingTokens{tokens: []string{"x"}}})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New = %v, want error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || c.base != tt.want {
				t.Fatalf("New: base %q err %v, want %q", c.base, err, tt.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	good := ds("sales", "orders", cols("id", "Int64"))
	tokens := &countingTokens{tokens: []string{"x"}}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{name: "no config", o: Options{Tokens: tokens}, want: "required"},
		{name: "no tokens", o: Options{Config: &config.Config{}}, want: "required"},
		{name: "duplicate dataset", o: Options{Tokens: tokens, Config: &config.Config{Datasets: []config.Dataset{good, good}}}, want: "configured twice"},
		{name: "bad table", o: Options{Tokens: tokens, Config: &config.Config{Datasets: []config.Dataset{ds("sales", "a/b", cols("id", "Int64"))}}}, want: `"a/b"`},
		{name: "missing ca file", o: Options{Tokens: tokens, Config: &config.Config{PowerBI: config.PowerBI{CAFile: "/nonexistent/ca.pem"}}}, want: "ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

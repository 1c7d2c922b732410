package auth

import (
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
)

func TestCloudEndpoints(t *testing.T) {
	tests := []struct {
		cloud, authorityURL, scope string
		wantAuthority, wantScope   string
		wantDiscovery              bool
	}{
		{"", "", "", "https://login.microsoftonline.com/t", "https://analysis.windows.net/powerbi/api/.default", true},
		{"public", "", "", "https://login.microsoftonline.com/t", "https://analysis.windows.net/powerbi/api/.default", true},
		{"usgov", "", "", "https://login.microsoftonline.com/t", "https://analysis.usgovcloudapi.net/powerbi/api/.default", true},
		{"usgovhigh", "", "", "https://login.microsoftonline.us/t", "https://high.analysis.usgovcloudapi.net/powerbi/api/.default", true},
		{"usdod", "", "", "https://login.microsoftonline.us/t", "https://mil.analysis.usgovcloudapi.net/powerbi/api/.default", true},
		{"china", "", "", "https://login.chinacloudapi.cn/t", "https://analysis.chinacloudapi.cn/powerbi/api/.default", true},
		{"public", "https://127.0.0.1:8443/", "", "https://127.0.0.1:8443/t", "https://analysis.windows.net/powerbi/api/.default", false},
		{"usgovhigh", "https://LOGIN.microsoftonline.us", "api://custom/.default", "https://LOGIN.microsoftonline.us/t", "api://custom/.default", true},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		ep, err := resolveEndpoints(tc.cloud, config.Auth{AuthorityURL: tc.authorityURL, Scope: tc.scope}, "t")
		if err != nil {
			t.Fatalf("%q: %v", tc.cloud, err)
		}
		if ep.authority != tc.wantAuthority || ep.scope != tc.wantScope || ep.discovery != tc.wantDiscovery {
			t.Errorf("%q %q: got %+v, want %s %s discovery=%v", tc.cloud, tc.authorityURL, ep, tc.wantAuthority, tc.wantScope, tc.wantDiscovery)
		}
		covered[tc.cloud] = true
	}
	for name := range config.Clouds {
		if !covered[name] {
			t.Errorf("cloud %q has no test case", name)
		}
	}
}

func TestRefreshMargin(t *testing.T) {
	tests := []struct{ life, want string }{
		{"5s", "1s"}, {"1m", "12s"}, {"25m", "5m0s"}, {"1h", "5m0s"}, {"24h", "5m0s"},
	}
	for _, tc := range tests {
		if got := refreshMargin(mustDuration(t, tc.life)).String(); got != tc.want {
			t.Errorf("refreshMargin(%s) = %s, want %s", tc.life, got, tc.want)
		}
	}
}

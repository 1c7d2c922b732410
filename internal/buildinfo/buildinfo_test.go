package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-04T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	tagged := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}}
	tests := []struct {
		name    string
		ldflags string
		bi      *debug.BuildInfo
		ok      bool
		want    Info
		str     string
	}{
		{"plain go build in a checkout", "dev", vcs, true,
			Info{Version: "dev", Revision: "0123456789abcdef0123456789abcdef01234567", Time: "2026-12-04T10:00:00Z", Modified: true, GoVersion: "go1.26.0"},
			"dev (commit 0123456789ab, modified, 2026-12-04T10:00:00Z) go1.26.0"},
		{"ldflags win", "1.4.0", vcs, true,
			Info{Version: "1.4.0", Revision: "0123456789abcdef0123456789abcdef01234567", Time: "2026-12-04T10:00:00Z", Modified: true, GoVersion: "go1.26.0"},
			"1.4.0 (commit"},
		{"go install of a tag", "", tagged, true, Info{Version: "v1.2.3", GoVersion: "go1.26.0"}, "v1.2.3 go1.26.0"},
		{"no build info", "", nil, false, Info{Version: "dev"}, "dev "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(tc.ldflags, tc.bi, tc.ok)
			if tc.bi == nil {
				tc.want.GoVersion = got.GoVersion // runtime.Version()
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if !strings.HasPrefix(got.String(), tc.str) {
				t.Errorf("String() = %q, want prefix %q", got.String(), tc.str)
			}
		})
	}
}

func TestReadThisTestBinary(t *testing.T) {
	in := Read("")
	if in.Version == "" || in.GoVersion == "" {
		t.Fatalf("Read: %+v", in)
	}
}

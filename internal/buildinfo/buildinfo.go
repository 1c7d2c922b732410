// Package buildinfo says which build of pbi-pusher is running: the version set by the linker
// (-ldflags "-X main.version=...") or, for a plain `go build`, the module version and the VCS
// revision and time that the Go toolchain stamps into the binary.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Info describes one build.
type Info struct {
	Version   string `json:"version"`            // release version, module version, or "dev"
	Revision  string `json:"revision,omitempty"` // VCS commit ("" when not built from a checkout)
	Time      string `json:"time,omitempty"`     // VCS commit time, RFC 3339
	Modified  bool   `json:"modified,omitempty"` // the checkout had uncommitted changes
	GoVersion string `json:"go_version"`
}

// Read returns the build's Info. ldflagsVersion is the linker-set version; "" or "dev" means
// none was set.
func Read(ldflagsVersion string) Info {
	bi, ok := debug.ReadBuildInfo()
	return fromBuildInfo(ldflagsVersion, bi, ok)
}

func fromBuildInfo(ldflagsVersion string, bi *debug.BuildInfo, ok bool) Info {
	in := Info{Version: ldflagsVersion, GoVersion: runtime.Version()}
	if !ok || bi == nil {
		if in.Version == "" {
			in.Version = "dev"
		}
		return in
	}
	if bi.GoVersion != "" {
		in.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	if in.Version == "" || in.Version == "dev" {
		in.Version = "dev"
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			in.Version = v
		}
	}
	return in
}

// String is the one-line form `pbi-pusher -version` prints after the program name.
func (in Info) String() string {
	s := in.Version
	if in.Revision != "" {
		rev := in.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (commit " + rev
		if in.Modified {
			s += ", modified"
		}
		if in.Time != "" {
			s += ", " + in.Time
		}
		s += ")"
	}
	return s + " " + in.GoVersion
}

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestVersionCarriesCommit: a plain `go build` (no -ldflags) reports the checkout's commit, and
// -version, --version and the version command agree.
func TestVersionCarriesCommit(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout (git rev-parse HEAD: %v): the binary has no commit to report", err)
	}
	if fi, err := os.Stat("../.git"); err != nil || !fi.IsDir() {
		// The go command stamps VCS information only from a .git directory, not from the .git
		// file of a linked worktree (git worktree add).
		t.Skip("../.git is not a directory (a linked git worktree): go build stamps no commit here")
	}
	commit := strings.TrimSpace(string(head))
	res := runBinary(t, 20*time.Second, nil, "version", "-json")
	var in struct {
		Version   string `json:"version"`
		Revision  string `json:"revision"`
		GoVersion string `json:"go_version"`
	}
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &in) != nil {
		t.Fatalf("version -json: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if in.Revision != commit || in.Version == "" || !strings.HasPrefix(in.GoVersion, "go") {
		t.Errorf("version -json = %+v, want revision %s", in, commit)
	}
	want := ""
	for _, args := range [][]string{{"version"}, {"-version"}, {"--version"}} {
		res := runBinary(t, 20*time.Second, nil, args...)
		if res.code != 0 || !strings.Contains(res.stdout, commit[:12]) {
			t.Errorf("%v: exit %d, %q, want the commit %s", args, res.code, res.stdout, commit[:12])
		}
		if want == "" {
			want = res.stdout
		} else if res.stdout != want {
			t.Errorf("%v prints %q, version prints %q", args, res.stdout, want)
		}
	}
}

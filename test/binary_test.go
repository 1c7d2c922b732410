package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// binPath is the pbi-pusher binary built once for the package's tests.
var binPath string

// outDir receives the stdout and stderr of every run of the binary; TestMain scans it for the
// secrets the tests registered (registerSecret) once every test has run.
var outDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pbi-pusher-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "pbi-pusher")
	outDir = filepath.Join(dir, "output")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The binary is built without -race: the unit tests carry the race detector, and these tests
	// measure the product's own behaviour at its real speed.
	// -buildvcs=auto is a plain `go build`'s default (this machine's GOFLAGS may turn it off): the
	// binary carries the checkout's commit, which TestVersionCarriesCommit checks.
	cmd := exec.Command("go", "build", "-buildvcs=auto", "-o", binPath, "../cmd/pbi-pusher")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build pbi-pusher:", err)
		os.Exit(1)
	}
	code := m.Run()
	leaks, err := scanForSecrets(outDir, registeredSecrets())
	if err != nil {
		fmt.Fprintln(os.Stderr, "secret scan:", err)
		code = 1
	}
	if len(leaks) > 0 {
		// Names only: the values must not reach the test log either.
		fmt.Fprintf(os.Stderr, "FAIL: secret scan: %d configured secret(s) appear in pbi-pusher's output "+
			"(files kept in %s):\n", len(leaks), outDir)
		for _, l := range leaks {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
		os.Exit(1) // keep dir for inspection
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// result is a finished run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// runBinary runs pbi-pusher with args until it exits or the timeout passes. Its output is kept
// for the secret scan.
func runBinary(t *testing.T, timeout time.Duration, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	captureOutput(t, out.Bytes(), errb.Bytes())
	res := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("pbi-pusher %v did not finish within %s\nstderr:\n%s", args, timeout, res.stderr)
	}
	return res
}

var (
	secretsMu sync.Mutex
	secrets   = map[string]string{} // value -> name
	captures  int
)

// minSecretLen keeps registered secrets distinctive enough that a match is a leak, not chance.
const minSecretLen = 8

// registerSecret adds value, called name in reports, to the secrets no output of pbi-pusher may
// contain. Every test that configures a secret (client secret, token, password) registers it.
func registerSecret(t testing.TB, name, value string) {
	t.Helper()
	if len(value) < minSecretLen {
		t.Fatalf("secret %s is shorter than %d bytes: too weak for the output scan", name, minSecretLen)
	}
	addSecret(name, value)
}

// addSecret is registerSecret for callbacks without a testing.TB (e.g. tokens seen by a server).
func addSecret(name, value string) {
	if len(value) < minSecretLen {
		return
	}
	secretsMu.Lock()
	defer secretsMu.Unlock()
	if _, ok := secrets[value]; !ok {
		secrets[value] = name
	}
}

func registeredSecrets() map[string]string {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	out := make(map[string]string, len(secrets))
	for v, n := range secrets {
		out[v] = n
	}
	return out
}

// captureOutput keeps one run's stdout and stderr in outDir for the secret scan. Any helper that
// runs the binary (in the foreground or background) must hand its output here.
func captureOutput(t testing.TB, stdout, stderr []byte) {
	t.Helper()
	secretsMu.Lock()
	captures++
	n := captures
	secretsMu.Unlock()
	for _, p := range duplicateLogKeys(stderr) {
		t.Errorf("duplicate log key: %s", p)
	}
	base := filepath.Join(outDir, fmt.Sprintf("%04d-%s", n, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())))
	for ext, b := range map[string][]byte{".stdout": stdout, ".stderr": stderr} {
		if err := os.WriteFile(base+ext, b, 0o600); err != nil {
			t.Errorf("keep output for the secret scan: %v", err)
		}
	}
}

// scanForSecrets returns one line per (file, secret) match in the files of dir, naming the file
// and the secret's name, never its value.
func scanForSecrets(dir string, secrets map[string]string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var leaks []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		for v, name := range secrets {
			if bytes.Contains(b, []byte(v)) {
				leaks = append(leaks, fmt.Sprintf("%s contains secret %q", e.Name(), name))
			}
		}
	}
	slices.Sort(leaks)
	return leaks, nil
}

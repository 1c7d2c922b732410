package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
)

// TestBackfillAgainstEmulatorCLITokensDieAfter3s (issue 13, acceptance 2): the built binary's
// `pbi-pusher emulator -aad-client … -aad-token-dies-after 3s -workspace …` over TLS, and
// pbi-pusher's own backfill against it with client-secret auth: every token advertises an hour
// but is answered 403 TokenExpired after 3 s. The backfill completes, exit 0, every row stored
// exactly once in the workspace, no limit violated.
func TestBackfillAgainstEmulatorCLITokensDieAfter3s(t *testing.T) {
	t.Parallel()
	secret := randomSecret(t, "e2e-client-secret-")
	registerSecret(t, "auth.client_secret", secret)
	const ws = "6f2c1c3e-0000-4000-8000-0000000000e2"
	dir := t.TempDir()
	cert := filepath.Join(dir, "emulator-cert.pem")
	emu := exec.Command(binPath, "emulator", "-listen", "127.0.0.1:0", "-tls", "-tls-cert-out", cert,
		"-tls-key-out", filepath.Join(dir, "emulator-key.pem"), "-aad-client", e2eClientID+"="+secret,
		"-aad-token-dies-after", "3s", "-workspace", ws+"=e2e", "-slow-rate", "1", "-slow-delay", "400ms", "-log-level", "warn")
	stdout, err := emu.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var emuErr bytes.Buffer
	emu.Stderr = &emuErr
	if err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = emu.Process.Signal(syscall.SIGTERM)
		_ = emu.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	root := regexp.MustCompile(`https://127\.0\.0\.1:[0-9]+`).FindString(line)
	if err != nil || root == "" {
		t.Fatalf("emulator start: %v %q\n%s", err, line, emuErr.String())
	}

	// 3,000 rows at 200 per POST, one in flight, each held 400 ms: over 6 s, tokens die twice.
	l := limits{rowsPerPost: 200, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 1}
	want := genRows(0, 3_000)
	in := filepath.Join(dir, "rows.jsonl")
	writeJSONL(t, in, want)
	cfg := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf(`powerbi:
  api_url: %s/v1.0/myorg
  workspace: %s
  ca_file: %s
auth:
  method: client_secret
  authority_url: %s
  tenant: %s
  client_id: %s
  client_secret: ${E2E_CLIENT_SECRET}
spool:
  path: %s
batch:
  linger: 100ms
admin:
  listen: "off"
log:
  format: json
  level: debug
%s`, root, ws, cert, root, e2eTenant, e2eClientID, filepath.Join(dir, "spool.db"), datasetsYAML(l))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runBinary(t, 2*time.Minute, []string{"E2E_CLIENT_SECRET=" + secret}, "backfill", "-config", cfg, "-table", "Telemetry/Readings", in)
	if res.code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, tail(res.stderr, 40))
	}
	expired := 0
	for _, l := range jsonLogs(res.stderr) {
		if l["msg"] == "token refused, refreshing once" && l["status"] == float64(http.StatusForbidden) {
			expired++
		}
	}
	if expired < 1 {
		t.Errorf("no 403 TokenExpired was refreshed: tokens did not die mid-load")
	}

	client := tlsClient(t, cert)
	var st emulator.Stats
	getJSON(t, client, root+"/emulator/stats", &st)
	if len(st.Datasets) != 1 || st.Datasets[0].Workspace != ws || st.Throttled != 0 || st.Violations != 0 {
		t.Fatalf("emulator stats: %+v", st)
	}
	var stored struct {
		Rows []map[string]any `json:"rows"`
	}
	getJSON(t, client, root+"/emulator/datasets/"+st.Datasets[0].ID+"/tables/Readings/rows", &stored)
	checkDelivered(t, want, stored.Rows)
	t.Logf("3,000 rows delivered exactly once into workspace %s; %d 403 TokenExpired refreshed; %d POSTs",
		ws, expired, st.Datasets[0].Posts)
}

// tlsClient trusts the PEM certificate in caFile.
func tlsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// getJSON decodes the JSON answer of GET url (numbers as json.Number, as Server.Rows gives them).
func getJSON(t *testing.T, c *http.Client, url string, v any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// schemaConfig writes a config for e with dataset sales, table orders of the given columns YAML.
func schemaConfig(t *testing.T, e *emulatortest.Emulator, columns string) string {
	t.Helper()
	yaml := fmt.Sprintf(`powerbi:
  api_url: %s
  workspace: 6f2c1c3e-0000-4000-8000-000000000001
auth:
  token: %s
datasets:
  - name: sales
    tables:
      - name: orders
        columns:
%s`, e.URL, e.Token, columns)
	path := filepath.Join(t.TempDir(), "pbi-pusher.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	colsV1 = "          - {name: id, type: Int64}\n          - {name: name, type: String}\n"
	colsV2 = "          - {name: id, type: Int64}\n          - {name: name, type: String}\n          - {name: qty, type: Double}\n"
	colsV3 = "          - {name: id, type: String}\n          - {name: name, type: String}\n"
	colsV4 = "          - {name: id, type: String}\n          - {name: name, type: String}\n          - {name: qty, type: Double}\n"
)

func runSchemaArgs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runSchemaPlan(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSchemaPlanApply(t *testing.T) {
	tests := []struct {
		name         string
		steps        [][]string // config version ("v1"...) followed by args; every step but the last must exit 0
		wantCode     int
		wantOut      string
		wantErr      string
		wantDatasets int // datasets in the emulator at the end
	}{
		{name: "plan a missing dataset changes nothing", steps: [][]string{{"v1", "plan"}}, wantOut: `+ dataset "sales": create`},
		{name: "apply creates", steps: [][]string{{"v1", "apply"}}, wantOut: "Applied 1 change", wantDatasets: 1},
		{name: "plan after apply is empty", steps: [][]string{{"v1", "apply"}, {"v1", "plan"}}, wantOut: "No changes", wantDatasets: 1},
		{name: "additive apply", steps: [][]string{{"v1", "apply"}, {"v2", "apply"}, {"v2", "plan"}}, wantOut: "No changes", wantDatasets: 1},
		{name: "destructive refused", steps: [][]string{{"v1", "apply"}, {"v3", "apply"}}, wantCode: 1, wantOut: "type Int64 -> String",
			wantErr: "-allow-destructive", wantDatasets: 1},
		{name: "detailed: a missing dataset is pending", steps: [][]string{{"v1", "plan", "-detailed-exitcode"}},
			wantCode: 2, wantOut: `+ dataset "sales": create`},
		{name: "detailed: no change", steps: [][]string{{"v1", "apply"}, {"v1", "plan", "-detailed-exitcode"}},
			wantOut: "No changes", wantDatasets: 1},
		{name: "detailed: a new column is pending", steps: [][]string{{"v1", "apply"}, {"v2", "plan", "-detailed-exitcode"}},
			wantCode: 2, wantOut: `add column "qty"`, wantDatasets: 1},
		{name: "additive applied beside a refused destructive change", steps: [][]string{{"v1", "apply"}, {"v4", "apply"}},
			wantCode: 1, wantOut: "Applied 1 change", wantErr: "1 change(s) not applied", wantDatasets: 1},
		{name: "after the additive part only the destructive change is pending",
			steps:   [][]string{{"v1", "apply"}, {"v4", "apply"}, {"v4", "plan"}},
			wantOut: "0 additive, 1 destructive", wantDatasets: 1},
		{name: "destructive allowed", steps: [][]string{{"v1", "apply"}, {"v3", "apply", "-allow-destructive"}, {"v3", "plan"}},
			wantOut: "No changes", wantDatasets: 1},
	}
	versions := map[string]string{"v1": colsV1, "v2": colsV2, "v3": colsV3, "v4": colsV4}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := emulatortest.Start(t, emulator.Options{Workspaces: []emulator.Workspace{{ID: "6f2c1c3e-0000-4000-8000-000000000001"}}})
			var code int
			var out, errs string
			for i, step := range tt.steps {
				path := schemaConfig(t, e, versions[step[0]])
				args := append([]string{step[1], "-config", path}, step[2:]...)
				code, out, errs = runSchemaArgs(args...)
				if i < len(tt.steps)-1 && code != 0 && (step[1] != "apply" || !strings.Contains(errs, "not applied")) {
					t.Fatalf("step %v: exit %d: %s", step, code, errs)
				}
			}
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errs, tt.wantErr) {
				t.Errorf("exit %d stdout %q stderr %q; want %d, %q, %q", code, out, errs, tt.wantCode, tt.wantOut, tt.wantErr)
			}
			if n := len(e.Server.Stats().Datasets); n != tt.wantDatasets {
				t.Errorf("emulator holds %d datasets, want %d", n, tt.wantDatasets)
			}
		})
	}
}

func TestSchemaPlanUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{name: "no subcommand", args: nil, wantCode: 2, wantErr: "plan or apply"},
		{name: "unknown subcommand", args: []string{"frob"}, wantCode: 2, wantErr: "plan or apply"},
		{name: "help", args: []string{"plan", "-h"}, wantCode: 0, wantErr: "example:\n  pbi-pusher schema plan -config"},
		{name: "apply help", args: []string{"apply", "-h"}, wantCode: 0, wantErr: "-allow-destructive"},
		{name: "missing -config", args: []string{"plan"}, wantCode: 2, wantErr: "-config FILE is required"},
		{name: "plan has no -allow-destructive", args: []string{"plan", "-allow-destructive"}, wantCode: 2, wantErr: "not defined"},
		{name: "extra argument", args: []string{"plan", "-config", "x.yaml", "extra"}, wantCode: 2, wantErr: "unexpected arguments"},
		{name: "unreadable config", args: []string{"apply", "-config", "/nonexistent/pbi-pusher.yaml"}, wantCode: 2, wantErr: "invalid config"},
		{name: "detailed: a config error is 1, not 2", args: []string{"plan", "-detailed-exitcode", "-config", "/nonexistent/pbi-pusher.yaml"}, wantCode: 1, wantErr: "invalid config"},
		{name: "detailed: a usage error is 1, not 2", args: []string{"plan", "-detailed-exitcode"}, wantCode: 1, wantErr: "-config FILE is required"},
		{name: "apply has no -detailed-exitcode", args: []string{"apply", "-detailed-exitcode"}, wantCode: 2, wantErr: "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runSchemaArgs(tt.args...)
			if code != tt.wantCode || !strings.Contains(errs, tt.wantErr) {
				t.Errorf("exit %d stderr %q; want %d containing %q", code, errs, tt.wantCode, tt.wantErr)
			}
		})
	}
}

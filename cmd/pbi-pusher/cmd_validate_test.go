package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestValidateReportsEveryMistakeInOnePass: six different mistakes (a bad duration, a bad enum,
// a wrong type, an unknown key, a bad column type, a source naming a missing table) are all
// printed with file:line, and validate exits 2.
func TestValidateReportsEveryMistakeInOnePass(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := dispatch(context.Background(), []string{"validate", "-config", "../../config/testdata/six.bad.yaml"}, &stdout, &stderr)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
	}
	for _, want := range []string{
		`six.bad.yaml:2: powerbi.request_timeout: invalid duration "soon"`,
		`six.bad.yaml:6: spool.when_full: unknown value "sometimes"`,
		`six.bad.yaml:10: datasets[0].limits.rows_per_post: want an integer, got a string "lots"`,
		`six.bad.yaml:13: unknown key "colums"`,
		`six.bad.yaml:15: datasets[0].tables[0].columns[0].type: unknown type "Text"`,
		`six.bad.yaml:18: sources[0].table: table "Telemetry/Nope"`,
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if n := len(regexp.MustCompile(`six\.bad\.yaml:\d+: `).FindAllString(stderr.String(), -1)); n != 6 {
		t.Errorf("%d problems printed, want 6:\n%s", n, stderr.String())
	}
	if regexp.MustCompile(`\[\]config\.|config\.Table|into int`).MatchString(stderr.String()) {
		t.Errorf("message names Go types:\n%s", stderr.String())
	}
}

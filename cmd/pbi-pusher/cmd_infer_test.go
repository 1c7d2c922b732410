package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
	"gopkg.in/yaml.v3"
)

func TestRunSchemaInfer(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	csvFile := write("sales 2024.csv", "id,amount,when\n1,2.5,2024-01-01\n2,3,2024-01-02\n")
	txtFile := write("events.txt", "{\"b\":true,\"a\":1}\nnot json\n")
	badFile := write("bad.jsonl", "nope\n")
	tests := []struct {
		name      string
		args      []string
		code      int
		out, errs string
	}{
		{"csv by extension", []string{csvFile}, 0, "- name: sales 2024\n  columns:\n    - name: id\n      type: Int64\n    - name: amount\n      type: Double\n    - name: when\n      type: DateTime\n", ""},
		{"jsonl default, name, order", []string{"-name", "Ev", txtFile}, 0, "- name: Ev\n  columns:\n    - name: b\n      type: Boolean\n    - name: a\n      type: Int64\n", "skipped 1 malformed"},
		{"forced format", []string{"-format", "csv", "-sample", "1", csvFile}, 0, "from 1 records", ""},
		{"no usable records", []string{badFile}, 1, "", "no usable jsonl records"},
		{"missing file", []string{filepath.Join(dir, "nope.csv")}, 1, "", "no such file"},
		{"help", []string{"-h"}, 0, "", "example:"},
		{"no file", nil, 2, "", "want one FILE"},
		{"two files", []string{csvFile, csvFile}, 2, "", "want one FILE"},
		{"bad format", []string{"-format", "xml", csvFile}, 2, "", "-format jsonl or csv"},
		{"bad sample", []string{"-sample", "0", csvFile}, 2, "", "-sample >= 1"},
		{"bad flag", []string{"-nope", csvFile}, 2, "", "flag provided but not defined"},
	}
	for _, tc := range tests {
		var out, errs bytes.Buffer
		code := runSchemaInfer(context.Background(), tc.args, &out, &errs)
		if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errs.String(), tc.errs) {
			t.Errorf("%s: code %d\nstdout:\n%s\nstderr:\n%s", tc.name, code, out.String(), errs.String())
		}
	}
}

// TestInferOutputLoads pastes the printed table into a config and loads it.
func TestInferOutputLoads(t *testing.T) {
	var out, errs bytes.Buffer
	if code := runSchemaInfer(context.Background(), []string{"../../schema/testdata/infer/orders.jsonl"}, &out, &errs); code != 0 {
		t.Fatalf("code %d: %s", code, errs.String())
	}
	indented := "    " + strings.ReplaceAll(strings.TrimRight(out.String(), "\n"), "\n", "\n    ")
	cfg := "auth: {token: x}\ndatasets:\n  - name: D\n    tables:\n" + indented + "\n"
	c, err := config.Parse("pasted.yaml", []byte(cfg))
	if err != nil {
		t.Fatalf("%v\n%s", err, cfg)
	}
	if got := len(c.Datasets[0].Tables[0].Columns); got != 10 {
		t.Errorf("%d columns", got)
	}
	var v any
	if err := yaml.Unmarshal(out.Bytes(), &v); err != nil {
		t.Error(err)
	}
}

func TestTableName(t *testing.T) {
	for in, want := range map[string]string{"/a/orders.jsonl": "orders", "x/my.data.v2.csv": "my_data_v2",
		"(weird)!.csv": "_weird__", ".csv": "Table", strings.Repeat("é", 120) + ".csv": strings.Repeat("é", 100)} {
		if got := tableName(in); got != want {
			t.Errorf("tableName(%q) = %q, want %q", in, got, want)
		}
	}
}

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestEstimateRowsCountsRecords: the progress total (and so a resumed run's share) counts records
// as the decoders see them, not lines.
func TestEstimateRowsCountsRecords(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, file, text, format string
		want                     int64
	}{
		{"jsonl", "a.jsonl", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n", "", 3},
		{"jsonl with blank lines and no final newline", "b.jsonl", "{\"a\":1}\n\n  \n{\"a\":2}", "", 2},
		{"csv header not counted", "c.csv", "a,b\n1,2\n3,4\n", "", 2},
		{"csv quoted line breaks", "d.csv", "a,b\n\"x\ny\",2\n\"p\nq\nr\",4\n", "", 2},
		{"csv header only", "e.csv", "a,b\n", "", 0},
		{"explicit format", "f.txt", "a\n1\n", "csv", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := estimateRows([]string{write(tc.file, tc.text)}, tc.format); got != tc.want {
				t.Errorf("estimateRows = %d, want %d", got, tc.want)
			}
		})
	}
	if got := estimateRows([]string{"-"}, "jsonl"); got != 0 {
		t.Errorf("stdin: %d, want 0 (unknown)", got)
	}
	if got := estimateRows([]string{filepath.Join(dir, "missing.jsonl")}, ""); got != 0 {
		t.Errorf("missing file: %d, want 0", got)
	}
}

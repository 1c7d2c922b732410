package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"
)

// duplicateLogKeys returns one line per JSON log line of out that repeats a key within one object
// (slog does not merge a key given to With and again to a log call). Non-JSON lines are skipped.
func duplicateLogKeys(out []byte) []string {
	var problems []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		if dups, err := objectDups(dec, ""); err == nil && len(dups) > 0 {
			problems = append(problems, fmt.Sprintf("line %d repeats %v: %s", n, dups, line))
		}
	}
	return problems
}

// objectDups reads one JSON value from dec and returns the repeated keys of every object in it,
// as dotted paths.
func objectDups(dec *json.Decoder, path string) ([]string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil, nil
	}
	var dups []string
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			if seen[k] {
				dups = append(dups, path+k)
			}
			seen[k] = true
			sub, err := objectDups(dec, path+k+".")
			if err != nil {
				return nil, err
			}
			dups = append(dups, sub...)
		}
	case '[':
		for dec.More() {
			sub, err := objectDups(dec, path)
			if err != nil {
				return nil, err
			}
			dups = append(dups, sub...)
		}
	}
	if _, err := dec.Token(); err != nil && err != io.EOF { // the closing delimiter
		return nil, err
	}
	return dups, nil
}

func TestDuplicateLogKeys(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{`{"time":"x","msg":"m","source":"file","table":"T"}`, 0},
		{`{"time":"x","msg":"m","source":"sources[0] file→T","source":"file"}`, 1},
		{`{"msg":"m","g":{"a":1,"a":2},"l":[{"b":1,"b":1}]}`, 1}, // one problem per line, naming g.a and l.b
		{"not json\n{\"a\":1}\n{\"a\":1,\"a\":1}", 1},
	}
	for _, tc := range tests {
		if got := duplicateLogKeys([]byte(tc.in)); len(got) != tc.want {
			t.Errorf("%s: %v, want %d problems", tc.in, got, tc.want)
		}
	}
}

package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pbi-pusher/pbi-pusher/config"
	"gopkg.in/yaml.v3"
)

// InferOptions tune Infer.
type InferOptions struct {
	// Order lists top-level field names in the order their columns should appear (a CSV header,
	// or JSON keys in order of first appearance, see KeyOrder). Other fields follow, sorted.
	Order []string
	// ParseStrings infers Int64, Double and Boolean from strings (set for CSV, where every value
	// is a string). JSON strings are otherwise String or DateTime, so "00123" stays text.
	ParseStrings bool
}

// guess tracks which types every non-missing value of one field fits.
type guess struct {
	seen                          bool
	isBool, isInt, isDouble, isDT bool
}

// Infer proposes a table definition from sample records. Nested objects become one column per
// leaf, named by their dotted path (which is also how the column finds its value); arrays become
// String columns. A field's type is the narrowest that fits every non-missing value: Boolean,
// Int64, Double, DateTime, else String (also for fields that are always missing).
func Infer(name string, recs []map[string]any, opts InferOptions) config.Table {
	guesses := map[string]*guess{}
	for _, rec := range recs {
		flatten("", rec, func(path string, v any) { observe(guesses, path, v, opts.ParseStrings) })
	}
	t := config.Table{Name: name}
	for _, path := range orderPaths(guesses, opts.Order) {
		t.Columns = append(t.Columns, config.Column{Name: path, Type: guesses[path].typ()})
	}
	return t
}

func flatten(prefix string, v any, fn func(string, any)) {
	m, ok := v.(map[string]any)
	if !ok || (len(m) == 0 && prefix != "") {
		fn(prefix, v)
		return
	}
	for k, c := range m {
		if prefix != "" {
			k = prefix + "." + k
		}
		flatten(k, c, fn)
	}
}

func observe(guesses map[string]*guess, path string, v any, parseStrings bool) {
	g := guesses[path]
	if g == nil {
		g = &guess{isBool: true, isInt: true, isDouble: true, isDT: true}
		guesses[path] = g
	}
	if s, ok := v.(string); v == nil || (ok && s == "") {
		return
	}
	g.seen = true
	_, isStr := v.(string)
	numeric := !isStr || parseStrings
	g.isBool = g.isBool && looksBool(v, parseStrings)
	g.isInt = g.isInt && numeric && fits(appendInt64, v)
	g.isDouble = g.isDouble && numeric && fits(appendDouble, v)
	dt := column{typ: config.TypeDateTime}
	_, err := dt.toTime(v)
	g.isDT = g.isDT && isStr && err == nil
}

// looksBool accepts JSON booleans and, from CSV, the words true and false (not 1/0 or yes/no,
// which more often mean numbers or text).
func looksBool(v any, parseStrings bool) bool {
	switch x := v.(type) {
	case bool:
		return true
	case string:
		s := strings.ToLower(strings.TrimSpace(x))
		return parseStrings && (s == "true" || s == "false")
	}
	return false
}

func fits(f func([]byte, any) ([]byte, error), v any) bool {
	_, err := f(nil, v)
	return err == nil
}

func (g *guess) typ() string {
	switch {
	case !g.seen:
		return config.TypeString
	case g.isBool:
		return config.TypeBoolean
	case g.isInt:
		return config.TypeInt64
	case g.isDouble:
		return config.TypeDouble
	case g.isDT:
		return config.TypeDateTime
	}
	return config.TypeString
}

// orderPaths sorts paths by the position of their top-level field in order, then by name.
func orderPaths(guesses map[string]*guess, order []string) []string {
	rank := map[string]int{}
	for i, k := range order {
		if _, dup := rank[k]; !dup {
			rank[k] = i
		}
	}
	pos := func(p string) int {
		if r, ok := rank[p]; ok {
			return r
		}
		if r, ok := rank[strings.SplitN(p, ".", 2)[0]]; ok {
			return r
		}
		return len(order)
	}
	paths := make([]string, 0, len(guesses))
	for p := range guesses {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool {
		if a, b := pos(paths[i]), pos(paths[j]); a != b {
			return a < b
		}
		return paths[i] < paths[j]
	})
	return paths
}

// KeyOrder returns the top-level keys of a JSON object in the order they appear (nil when raw
// is not an object).
func KeyOrder(raw []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := tok.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}

// TableYAML renders t as a YAML list item, ready to paste under a dataset's tables: key.
func TableYAML(t config.Table) ([]byte, error) {
	type col struct {
		Name string `yaml:"name"`
		Type string `yaml:"type"`
	}
	type table struct {
		Name    string `yaml:"name"`
		Columns []col  `yaml:"columns"`
	}
	out := table{Name: t.Name}
	for _, c := range t.Columns {
		out.Columns = append(out.Columns, col{Name: c.Name, Type: c.Type})
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode([]table{out}); err != nil {
		return nil, fmt.Errorf("table %q as YAML: %w", t.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("table %q as YAML: %w", t.Name, err)
	}
	return buf.Bytes(), nil
}

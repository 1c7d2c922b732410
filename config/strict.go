package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// lineMap maps a key path ("datasets[0].tables[1].name") to the line it was written on.
type lineMap map[string]int

// walker checks a node tree against a Go type: it reports unknown keys (yaml.v3's Node.Decode
// ignores KnownFields) and records the line of every key path for Validate's messages.
type walker struct {
	file  string
	lines lineMap
	errs  []error
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			w.walk(c, t, path)
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		w.walkStruct(n, t, path)
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.lines[p] = c.Line
			w.walk(c, t.Elem(), p)
		}
	}
	// Kind mismatches are reported by the decoder itself, with their line.
}

func (w *walker) walkStruct(n *yaml.Node, t reflect.Type, path string) {
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" {
			w.walk(v, t, path)
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			w.errs = append(w.errs, fmt.Errorf("%s:%d: unknown key %q in %s (known: %s)",
				w.file, k.Line, clip(k.Value), where(path), knownKeys(fields)))
			continue
		}
		p := join(path, k.Value)
		w.lines[p] = k.Line
		w.walk(v, f.Type, p)
	}
}

// yamlFields returns t's fields by their yaml key.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f
	}
	return m
}

func knownKeys(fields map[string]reflect.StructField) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func where(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// leafAt returns the one innermost key path written on line, or "" when there is none or the
// line holds several (a flow mapping such as {name: a, type: b}).
func (l lineMap) leafAt(line int) string {
	var onLine []string
	for p, n := range l {
		if n == line {
			onLine = append(onLine, p)
		}
	}
	leaf := ""
	for _, p := range onLine {
		if hasChild(onLine, p) {
			continue
		}
		if leaf != "" {
			return ""
		}
		leaf = p
	}
	return leaf
}

func hasChild(paths []string, p string) bool {
	for _, q := range paths {
		if strings.HasPrefix(q, p+".") || strings.HasPrefix(q, p+"[") {
			return true
		}
	}
	return false
}

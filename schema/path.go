package schema

import (
	"strconv"
	"strings"
)

// fieldPath locates a value in a record: a JSON pointer or a dotted path (see the package doc).
type fieldPath struct {
	raw  string   // the whole from text, tried as one key for dotted paths
	segs []string // the segments
	ptr  bool     // a JSON pointer
}

func parsePath(from string) fieldPath {
	if strings.HasPrefix(from, "/") {
		segs := strings.Split(from[1:], "/")
		for i, s := range segs {
			segs[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
		}
		return fieldPath{raw: from, segs: segs, ptr: true}
	}
	return fieldPath{raw: from, segs: strings.Split(from, ".")}
}

// topKeys are the top-level record fields this path may read.
func (p fieldPath) topKeys() []string {
	if p.ptr {
		return []string{p.segs[0]}
	}
	return []string{p.raw, p.segs[0]}
}

// lookup returns the value at p, or nil when any step is missing.
func (p fieldPath) lookup(rec map[string]any) any {
	if !p.ptr {
		if v, ok := rec[p.raw]; ok {
			return v
		}
	}
	var cur any = rec
	for _, s := range p.segs {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[s]
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

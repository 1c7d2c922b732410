package schema

import (
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// onePass builds rows straight from JSON object text, for tables whose columns all read
// top-level fields: one scan of the bytes, no map, scratch reused. It handles the common inputs
// and gives up (AppendJSONRow's false) on everything else, errors included, so Coerce on the
// decoded map stays the single source of answers and error messages.
type onePass struct {
	slots   map[string]int // every known top-level field -> its value slot
	colSlot []int          // per column, its field's slot (-1: timestamp: ingest)
	pool    sync.Pool      // *passState
}

// fieldVal is one top-level field's value, located in the object text.
type fieldVal struct {
	kind       byte
	start, end int  // the value's text; a string's inside its quotes
	esc        bool // a string holding escapes
	exact      bool // read by its exact key (not one differing in case)
}

// foldedKey is a key that matches a known field only by case.
type foldedKey struct {
	slot int
	val  fieldVal
	key  []byte
}

// passState is the scratch of one AppendJSONRow call.
type passState struct {
	vals    []fieldVal
	folds   []foldedKey
	unknown [][]byte // keys no column reads (duplicates included)
	keys    []byte   // unescaped keys that unknown or folds hold
	buf     []byte   // unescaped key or value being read
	low     []byte   // a key in lower case
}

// compileOnePass returns the one-pass builder of t, or nil when a column reads a nested path.
func compileOnePass(t *Table) *onePass {
	p := &onePass{slots: map[string]int{}, colSlot: make([]int, len(t.cols))}
	for k := range t.known {
		p.slots[k] = len(p.slots)
	}
	for i, c := range t.cols {
		p.colSlot[i] = -1
		if c.ingest {
			continue
		}
		if len(c.from.segs) != 1 {
			return nil
		}
		p.colSlot[i] = p.slots[c.from.segs[0]]
	}
	n := len(p.slots)
	p.pool.New = func() any { return &passState{vals: make([]fieldVal, n)} }
	return p
}

// AppendJSONRow appends to dst the row Coerce would return for the JSON object text obj
// (decoded with numbers as json.Number), in one pass over the bytes. It returns false, with
// nothing counted, for input it does not handle: anything Coerce or the JSON decoder would
// refuse, duplicate keys, fields differing only in case from the same column's field, nested
// paths, objects or arrays read by a column. The caller then decodes obj and calls Coerce, which
// answers. Ignored unknown fields are counted as by Coerce.
func (t *Table) AppendJSONRow(dst, obj []byte, now time.Time) ([]byte, bool) {
	p := t.onePass
	if p == nil || !utf8.Valid(obj) {
		return dst, false
	}
	st := p.pool.Get().(*passState)
	defer p.pool.Put(st)
	unknown, ok := st.scan(t, obj)
	if !ok || (unknown > 0 && t.reject) {
		return dst, false
	}
	out, ok := t.appendPass(dst, obj, st, now)
	if !ok {
		return dst, false
	}
	if unknown > 0 {
		t.unknown.Add(unknown)
	}
	return out, true
}

// appendPass appends the row from the scanned values.
func (t *Table) appendPass(dst, obj []byte, st *passState, now time.Time) ([]byte, bool) {
	out := append(dst, '{')
	for i := range t.cols {
		c := &t.cols[i]
		if c.ingest {
			out = append(appendTime(append(out, c.key...), now), ',')
			continue
		}
		v := st.vals[t.onePass.colSlot[i]]
		if v.kind == kindNone || v.kind == kindNull || (v.kind == kindString && v.start == v.end && c.typ != config.TypeString) {
			switch {
			case c.def != nil:
				out = append(append(append(out, c.key...), c.def...), ',')
			case c.required:
				return dst, false
			}
			continue
		}
		var ok bool
		if out, ok = c.appendText(append(out, c.key...), obj[v.start:v.end], v, st); !ok {
			return dst, false
		}
		out = append(out, ',')
	}
	if len(out) == len(dst)+1 {
		return dst, false // no values: Coerce's ErrNoValues
	}
	return append(out[:len(out)-1], '}'), true
}

// scan reads the object's top-level fields into st.vals and returns how many distinct unknown
// fields it has; false when the text is not handled here.
func (st *passState) scan(t *Table, obj []byte) (int64, bool) {
	clear(st.vals)
	st.folds, st.unknown, st.keys = st.folds[:0], st.unknown[:0], st.keys[:0]
	s := jsonScanner{b: obj}
	for s.i < len(obj) && (obj[s.i] == ' ' || obj[s.i] == '\t' || obj[s.i] == '\r') {
		s.i++
	}
	if s.peek() != '{' {
		return 0, false
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		return 0, false // no field: Coerce's ErrNoFieldMatched
	}
	known := 0
	for {
		key, v, ok := st.field(&s)
		if !ok {
			return 0, false
		}
		k, ok := st.place(t, key, v)
		if !ok {
			return 0, false
		}
		known += k
		more, ok := s.next('}')
		if !ok {
			return 0, false
		}
		if !more {
			break
		}
	}
	if s.ws(); s.i != len(obj) {
		return 0, false
	}
	k, ok := st.resolveFolds()
	if !ok || known+k == 0 {
		return 0, false
	}
	return st.distinctUnknown()
}

// field scans `"key": value` at s.i.
func (st *passState) field(s *jsonScanner) ([]byte, fieldVal, bool) {
	if s.peek() != '"' {
		return nil, fieldVal{}, false
	}
	ks, ke, kesc, ok := s.str()
	if !ok {
		return nil, fieldVal{}, false
	}
	key := s.b[ks:ke]
	if kesc {
		st.buf = unescape(st.buf[:0], key)
		key = st.buf
	}
	s.ws()
	if s.peek() != ':' {
		return nil, fieldVal{}, false
	}
	s.i++
	s.ws()
	v := fieldVal{start: s.i}
	if v.kind = s.value(1); v.kind == kindNone {
		return nil, fieldVal{}, false
	}
	v.end = s.i
	if v.kind == kindString {
		v.start, v.end, v.esc = v.start+1, v.end-1, s.esc
	}
	return key, v, true
}

// place files one field: 1 when its exact key is known; false for a duplicate known key.
func (st *passState) place(t *Table, key []byte, v fieldVal) (int, bool) {
	p := t.onePass
	if slot, ok := p.slots[string(key)]; ok {
		if st.vals[slot].exact {
			return 0, false
		}
		v.exact = true
		st.vals[slot] = v
		return 1, true
	}
	if to, ok := t.fold[string(st.lower(key))]; ok {
		st.folds = append(st.folds, foldedKey{slot: p.slots[to], val: v, key: st.stable(key)})
		return 0, true
	}
	st.unknown = append(st.unknown, st.stable(key))
	return 0, true
}

// stable returns key, copied when it is the unescape scratch.
func (st *passState) stable(key []byte) []byte {
	if len(key) > 0 && len(st.buf) > 0 && &key[0] == &st.buf[0] {
		n := len(st.keys)
		st.keys = append(st.keys, key...)
		return st.keys[n:len(st.keys):len(st.keys)]
	}
	return key
}

// lower returns key in lower case as strings.ToLower has it, in scratch for ASCII keys.
func (st *passState) lower(key []byte) []byte {
	st.low = st.low[:0]
	for _, c := range key {
		switch {
		case c >= utf8.RuneSelf:
			return []byte(strings.ToLower(string(key)))
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		st.low = append(st.low, c)
	}
	return st.low
}

// resolveFolds applies keys differing only in case: read by their column when its exact field
// is absent, else unknown. Two such keys for one field are left to the map path.
func (st *passState) resolveFolds() (int, bool) {
	known := 0
	for _, f := range st.folds {
		switch cur := st.vals[f.slot]; {
		case cur.exact:
			st.unknown = append(st.unknown, f.key)
		case cur.kind != kindNone:
			return 0, false
		default:
			st.vals[f.slot] = f.val
			known++
		}
	}
	return known, true
}

// distinctUnknown counts the unknown keys once each, as a map holds them.
func (st *passState) distinctUnknown() (int64, bool) {
	if len(st.unknown) > 64 {
		return 0, false
	}
	var n int64
	for i, k := range st.unknown {
		dup := false
		for _, prev := range st.unknown[:i] {
			if string(prev) == string(k) {
				dup = true
				break
			}
		}
		if !dup {
			n++
		}
	}
	return n, true
}

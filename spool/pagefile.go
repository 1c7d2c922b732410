package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The spool never lets bbolt map a file it has not validated: bbolt reads pages straight from the
// mapping, and a page id past the end of a truncated file is a SIGBUS that recover cannot catch.
// pageFile reads the file with pread instead (a bad offset is an error, never a fault), following
// bbolt's on-disk format (bbolt v1.5.0, internal/common: page.go, meta.go; little-endian).
const (
	pageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	elemSize       = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	bucketHdrSize  = 16 // bucket value: root pgid u64, sequence u64; root 0 = inline page follows

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagFreelist = 0x10
	leafBucket   = 0x01 // leaf element flag: the value is a nested bucket

	boltMagic   = 0xED0CDAED
	boltVersion = 2
	noFreelist  = ^uint64(0)

	maxWalkDepth = 64
)

var le = binary.LittleEndian

// fileMeta is the meta page bbolt would use.
type fileMeta struct {
	pageSize                  int
	root, freelist, hwm, txid uint64
}

// pageFile is a spool file opened for pread-based validation and salvage.
type pageFile struct {
	f     *os.File
	path  string
	size  int64
	meta  fileMeta
	older *fileMeta // the other valid meta page (the transaction before), if any
}

// openPageFile opens path read-only and validates its meta pages against the file: a valid meta
// page (magic, version, checksum), a sane page size, and every page the meta references (the
// high-water mark, the root, the freelist) inside the file. It returns (nil, nil) for an empty
// file, which bbolt initializes. Validation failures wrap errCorrupt.
func openPageFile(path string) (*pageFile, error) {
	pf, err := openRaw(path)
	if err != nil || pf == nil {
		return nil, err
	}
	err = pf.pickMeta()
	if err == nil {
		err = pf.checkMeta()
	}
	if err != nil {
		pf.close()
		return nil, fmt.Errorf("%w: %s: %w", errCorrupt, path, err)
	}
	return pf, nil
}

// openRaw opens path read-only without looking at it; (nil, nil) for an empty file.
func openRaw(path string) (*pageFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if fi.Size() == 0 {
		_ = f.Close()
		return nil, nil
	}
	return &pageFile{f: f, path: path, size: fi.Size()}, nil
}

func (pf *pageFile) close() { _ = pf.f.Close() }

// pickMeta picks the meta page bbolt would: the valid one with the highest txid.
func (pf *pageFile) pickMeta() error {
	if pf.size < 2*512 {
		return fmt.Errorf("file size too small (%d bytes)", pf.size)
	}
	m0, err0 := pf.metaAt(0)
	off := int64(os.Getpagesize())
	if err0 == nil {
		off = int64(m0.pageSize)
	}
	m1, err1 := pf.metaAt(off)
	var m fileMeta
	switch {
	case err0 != nil && err1 != nil:
		return fmt.Errorf("no valid meta page: %w; %w", err0, err1)
	case err0 != nil:
		m = m1
	case err1 != nil || m0.txid >= m1.txid:
		m = m0
		if err1 == nil {
			pf.older = &m1
		}
	default:
		m = m1
		pf.older = &m0
	}
	pf.meta = m
	return nil
}

// checkMeta checks the meta page against the file: every page it counts and references is
// inside the file.
func (pf *pageFile) checkMeta() error {
	m := pf.meta
	ps := uint64(m.pageSize)
	switch {
	case m.hwm < 3:
		return fmt.Errorf("meta (txid %d): high-water mark %d", m.txid, m.hwm)
	case m.hwm > uint64(pf.size)/ps:
		return fmt.Errorf("truncated: the meta page (txid %d) counts %d pages of %d bytes (%d bytes), the file holds %d bytes",
			m.txid, m.hwm, ps, m.hwm*ps, pf.size)
	case m.root < 2 || m.root >= m.hwm:
		return fmt.Errorf("meta (txid %d): root page %d outside [2, %d)", m.txid, m.root, m.hwm)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm):
		return fmt.Errorf("meta (txid %d): freelist page %d outside [2, %d)", m.txid, m.freelist, m.hwm)
	}
	return nil
}

// metaAt decodes and validates the meta page at off.
func (pf *pageFile) metaAt(off int64) (fileMeta, error) {
	var b [pageHeaderSize + 64]byte
	if _, err := pf.f.ReadAt(b[:], off); err != nil {
		return fileMeta{}, fmt.Errorf("meta at %d: %w", off, err)
	}
	m := b[pageHeaderSize:]
	h := fnv.New64a()
	_, _ = h.Write(m[:56])
	switch {
	case le.Uint32(m[0:]) != boltMagic:
		return fileMeta{}, fmt.Errorf("meta at %d: not a bbolt file (magic %#x)", off, le.Uint32(m[0:]))
	case le.Uint32(m[4:]) != boltVersion:
		return fileMeta{}, fmt.Errorf("meta at %d: version %d", off, le.Uint32(m[4:]))
	case le.Uint64(m[56:]) != h.Sum64():
		return fileMeta{}, fmt.Errorf("meta at %d: checksum mismatch", off)
	}
	ps := int(le.Uint32(m[8:]))
	if ps < 512 || ps > 1<<16 || ps&(ps-1) != 0 {
		return fileMeta{}, fmt.Errorf("meta at %d: page size %d", off, ps)
	}
	return fileMeta{pageSize: ps, root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]),
		hwm: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, nil
}

// page reads page id with its overflow pages and checks its header against the meta.
func (pf *pageFile) page(id uint64) ([]byte, error) {
	ps := int64(pf.meta.pageSize)
	if id < 2 || id >= pf.meta.hwm {
		return nil, fmt.Errorf("page %d: outside [2, %d)", id, pf.meta.hwm)
	}
	buf := make([]byte, ps) // one read for the common page without overflow
	if _, err := pf.f.ReadAt(buf, int64(id)*ps); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	over := uint64(le.Uint32(buf[12:]))
	if got := le.Uint64(buf[0:]); got != id {
		return nil, fmt.Errorf("page %d: header says page %d", id, got)
	}
	if id+over >= pf.meta.hwm {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the high-water mark %d", id, over, pf.meta.hwm)
	}
	if over > 0 {
		buf = append(buf, make([]byte, int64(over)*ps)...)
		if _, err := pf.f.ReadAt(buf[ps:], int64(id+1)*ps); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("page %d: %w", id, err)
		}
	}
	return buf, nil
}

// elem is one decoded element of a branch or leaf page.
type elem struct {
	bucket bool   // leaf: value is a nested bucket
	key    []byte // aliases the page
	value  []byte // leaf only
	child  uint64 // branch only
}

// elems decodes and bounds-checks the elements of a branch or leaf page held in p (a page read
// from the file or an inline bucket's page), checking that keys ascend.
func elems(p []byte) (flags uint16, out []elem, err error) {
	if len(p) < pageHeaderSize {
		return 0, nil, errors.New("page shorter than its header")
	}
	flags, n := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if flags != flagBranch && flags != flagLeaf {
		return flags, nil, fmt.Errorf("page type %#x, want branch or leaf", flags)
	}
	if pageHeaderSize+n*elemSize > len(p) {
		return flags, nil, fmt.Errorf("%d elements do not fit the page", n)
	}
	out = make([]elem, n)
	for i := range n {
		at := pageHeaderSize + i*elemSize
		e := p[at : at+elemSize]
		var pos, ks, vs uint64
		if flags == flagBranch {
			pos, ks = uint64(le.Uint32(e[0:])), uint64(le.Uint32(e[4:]))
			out[i].child = le.Uint64(e[8:])
		} else {
			out[i].bucket = le.Uint32(e[0:])&leafBucket != 0
			pos, ks, vs = uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
		}
		start := uint64(at) + pos
		if start+ks+vs > uint64(len(p)) {
			return flags, nil, fmt.Errorf("element %d runs past the page", i)
		}
		out[i].key = p[start : start+ks]
		out[i].value = p[start+ks : start+ks+vs]
		if i > 0 && bytes.Compare(out[i-1].key, out[i].key) >= 0 {
			return flags, nil, fmt.Errorf("element %d: keys out of order", i)
		}
	}
	return flags, out, nil
}

// walker visits every page reachable from the root. In strict mode (check) the first problem
// stops it; in tolerant mode (salvage) a bad page is counted and skipped with its subtree.
type walker struct {
	pf       *pageFile
	tolerant bool
	seen     []bool // by page id, overflow pages included
	err      error  // strict: the first problem
	problems []error
	skipped  int // tolerant: pages that could not be read or decoded
	// onFail (tolerant) is told the bucket path of every skipped page and the key range its
	// parent gave it (nil, nil for a bucket's root page).
	onFail func(path [][]byte, lo, hi []byte)
	lo, hi []byte // key range of the page being walked, from its parent branch element
	// leaf is called for every leaf element that is not a nested bucket, with the bucket path.
	leaf func(path [][]byte, key, value []byte)
	// cancel (optional) stops a strict walk with its error when it returns one.
	cancel func() error
	// descend (optional) says whether to walk child i of the n of a branch page of the bucket at
	// path, whose keys lie in [lo, hi) (hi nil: unbounded).
	descend func(path [][]byte, i, n int, lo, hi []byte) bool
}

func newWalker(pf *pageFile, tolerant bool) *walker {
	return &walker{pf: pf, tolerant: tolerant, seen: make([]bool, pf.meta.hwm)}
}

// fail records a problem in the bucket at path; it returns true when the walk must stop.
func (w *walker) fail(path [][]byte, err error) bool {
	if !w.tolerant {
		if w.err == nil {
			w.err = err
		}
		return true
	}
	w.skipped++
	if w.onFail != nil {
		w.onFail(path, w.lo, w.hi)
	}
	if len(w.problems) < 20 {
		w.problems = append(w.problems, err)
	}
	return false
}

func (w *walker) stopped() bool { return w.err != nil }

// walkRoot walks the whole tree.
func (w *walker) walkRoot() { w.walkPage(nil, w.pf.meta.root, 0) }

// walkBucket walks a nested bucket given its value in the parent leaf.
func (w *walker) walkBucket(path [][]byte, v []byte, depth int) {
	if len(v) < bucketHdrSize {
		w.fail(path, fmt.Errorf("bucket %q: value of %d bytes", path, len(v)))
		return
	}
	root := le.Uint64(v[0:])
	w.lo, w.hi = nil, nil
	if root != 0 {
		w.walkPage(path, root, depth)
		return
	}
	w.walkElems(path, v[bucketHdrSize:], depth, "inline bucket")
}

// walkPage reads and walks page id.
func (w *walker) walkPage(path [][]byte, id uint64, depth int) {
	if w.stopped() {
		return
	}
	if w.cancel != nil && !w.tolerant {
		if err := w.cancel(); err != nil {
			w.err = err
			return
		}
	}
	if depth > maxWalkDepth {
		w.fail(path, fmt.Errorf("page %d: tree deeper than %d", id, maxWalkDepth))
		return
	}
	p, err := w.pf.page(id)
	if err != nil {
		w.fail(path, err)
		return
	}
	for i := range uint64(len(p) / w.pf.meta.pageSize) {
		if w.seen[id+i] {
			w.fail(path, fmt.Errorf("page %d: referenced twice", id+i))
			return
		}
		w.seen[id+i] = true
	}
	w.walkElems(path, p, depth, fmt.Sprintf("page %d", id))
}

// walkElems walks the elements of page p.
func (w *walker) walkElems(path [][]byte, p []byte, depth int, what string) {
	flags, es, err := elems(p)
	if err != nil {
		w.fail(path, fmt.Errorf("%s (bucket %q): %w", what, path, err))
		return
	}
	for i, e := range es {
		switch {
		case w.stopped():
			return
		case flags == flagBranch:
			w.lo, w.hi = e.key, nil
			if i+1 < len(es) {
				w.hi = es[i+1].key
			}
			if w.descend != nil && !w.descend(path, i, len(es), w.lo, w.hi) {
				continue
			}
			w.walkPage(path, e.child, depth+1)
		case e.bucket:
			w.walkBucket(append(path[:len(path):len(path)], e.key), e.value, depth+1)
		case w.leaf != nil:
			w.leaf(path, e.key, e.value)
		}
	}
}

// freePages reads the freelist page (nil if the file keeps none).
func (pf *pageFile) freePages() ([]uint64, error) {
	if pf.meta.freelist == noFreelist {
		return nil, nil
	}
	p, err := pf.page(pf.meta.freelist)
	if err != nil {
		return nil, fmt.Errorf("freelist: %w", err)
	}
	if le.Uint16(p[8:]) != flagFreelist {
		return nil, fmt.Errorf("freelist: page %d has type %#x", pf.meta.freelist, le.Uint16(p[8:]))
	}
	at, n := pageHeaderSize, uint64(le.Uint16(p[10:]))
	if n == 0xFFFF {
		n, at = le.Uint64(p[pageHeaderSize:]), at+8
	}
	if uint64(at)+n*8 > uint64(len(p)) {
		return nil, fmt.Errorf("freelist: %d ids do not fit page %d", n, pf.meta.freelist)
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = le.Uint64(p[at+8*i:])
	}
	return ids, nil
}

// check is the full structural check: every page reachable from the root is inside the file,
// well formed and referenced once, the freelist is readable and disjoint from them, and every
// page below the high-water mark is one or the other (what bbolt's tx.Check verifies, done with
// pread so a damaged file yields an error, never a fault).
func (pf *pageFile) check() error { return pf.checkCtx(context.Background()) }

// checkCtx is check, stopping with ctx's error once ctx ends.
func (pf *pageFile) checkCtx(ctx context.Context) error {
	// The walk reads every page in tree order: ask the kernel to read the file ahead at disk
	// speed meanwhile (best effort; a cold 1 GB file otherwise costs a seek per page).
	readAhead(pf.f, pf.size)
	w := newWalker(pf, false)
	w.cancel = ctx.Err
	w.walkRoot()
	if w.err != nil {
		return w.err
	}
	free, err := pf.freePages()
	if err != nil {
		return err
	}
	if pf.meta.freelist != noFreelist {
		p, _ := pf.page(pf.meta.freelist)
		for i := range uint64(len(p) / pf.meta.pageSize) {
			w.seen[pf.meta.freelist+i] = true
		}
	}
	for _, id := range free {
		if id < 2 || id >= pf.meta.hwm || w.seen[id] {
			return fmt.Errorf("freelist: page %d is reachable, outside [2, %d) or listed twice", id, pf.meta.hwm)
		}
		w.seen[id] = true
	}
	for id := uint64(2); id < pf.meta.hwm; id++ {
		if !w.seen[id] {
			return fmt.Errorf("page %d: neither reachable nor free", id)
		}
	}
	return nil
}

// usedBytes is the size of the pages the meta counts (the high-water mark): the file itself may
// be longer by the space bbolt grows it ahead (see initialMmapSize), which holds nothing.
func (pf *pageFile) usedBytes() int64 { return int64(pf.meta.hwm) * int64(pf.meta.pageSize) }

// checkFreelist is the part of the full check that bbolt needs before it writes: the freelist
// page reads, and every id it lists is inside [2, high-water mark), listed once, and neither the
// root nor the freelist page itself. A few page reads whatever the size of the file. (Whether a
// listed page is also reachable from the root takes the full walk: checkCtx.)
func (pf *pageFile) checkFreelist() error {
	free, err := pf.freePages()
	if err != nil {
		return err
	}
	seen := make(map[uint64]bool, len(free))
	for _, id := range free {
		if id < 2 || id >= pf.meta.hwm || seen[id] || id == pf.meta.root || id == pf.meta.freelist {
			return fmt.Errorf("freelist: page %d is outside [2, %d), listed twice, the root or the freelist", id, pf.meta.hwm)
		}
		seen[id] = true
	}
	return nil
}

// lookup finds key in the bucket at path (top-level names), descending only the pages on the
// way: a few reads. It returns nil when any step is missing or damaged.
func (pf *pageFile) lookup(path [][]byte, key []byte) []byte {
	p, err := pf.page(pf.meta.root)
	if err != nil {
		return nil
	}
	for depth := 0; depth < maxWalkDepth; depth++ {
		want := key
		if len(path) > 0 {
			want = path[0]
		}
		flags, es, err := elems(p)
		if err != nil || len(es) == 0 {
			return nil
		}
		if flags == flagBranch {
			i := 0
			for i+1 < len(es) && bytes.Compare(es[i+1].key, want) <= 0 {
				i++
			}
			if p, err = pf.page(es[i].child); err != nil {
				return nil
			}
			continue
		}
		var v []byte
		for _, e := range es {
			if bytes.Equal(e.key, want) && e.bucket == (len(path) > 0) {
				v = e.value
			}
		}
		switch {
		case v == nil:
			return nil
		case len(path) == 0:
			return v
		case len(v) < bucketHdrSize:
			return nil
		}
		path = path[1:]
		if root := le.Uint64(v); root != 0 {
			if p, err = pf.page(root); err != nil {
				return nil
			}
		} else {
			p = v[bucketHdrSize:]
		}
	}
	return nil
}

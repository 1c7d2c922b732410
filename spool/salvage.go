package spool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// salvageChunk is how many rows Salvage appends per Write.
const salvageChunk = 1000

// SalvageResult is what SalvageFile recovered and what it could not.
type SalvageResult struct {
	Rows         int      // rows appended to their queues
	DeadLetters  int      // dead letters appended
	Orphans      int      // of Rows: rows from intact pages cut off from their tree by a damaged page
	PagesSkipped int      // pages that could not be read or decoded (with what hung below them)
	RowsSkipped  int      // rows on readable pages whose data is not a JSON object
	Problems     []string // the first problems found, for the report
}

// SalvageOptions tune SalvageFile.
type SalvageOptions struct {
	// Queues are the tables the agent is configured with. When the damage took the list of
	// queues with it and the file names no queue anywhere, intact pages of rows go to the one
	// queue here (with several, which one is unknown: they are skipped and counted).
	Queues []QueueKey
}

// Salvage is SalvageFile returning the rows and dead letters appended.
func Salvage(ctx context.Context, corruptPath string, into *Spool) (int, error) {
	r, err := SalvageFile(ctx, corruptPath, into, SalvageOptions{})
	return r.Rows + r.DeadLetters, err
}

// SalvageFile reads whatever is readable in a (quarantined) spool file, never modifying it, and
// appends its rows to their queues in into, and its dead letters to into's dead letters. Rows
// that were in flight in the old file are included (they may already be at Power BI).
// Metadata and checkpoints are not copied: the running spool's are newer.
//
// It reads the file with pread, page by page, never through a memory mapping, so no damage can
// crash it: it walks the tree from the root, skipping (and counting) every page that is outside
// the file or does not decode, then scans every page the walk did not reach and the freelist
// does not hold: an intact leaf of queue rows cut off by a damaged branch is recovered too when
// the damage lies in exactly one queue. A non-nil error with a result means the file was partly
// readable: the error and the result list what was skipped.
func SalvageFile(ctx context.Context, corruptPath string, into *Spool, opts SalvageOptions) (SalvageResult, error) {
	var res SalvageResult
	pf, err := openSalvage(corruptPath)
	if err != nil {
		return res, fmt.Errorf("spool: salvage %s: cannot read: %w", corruptPath, err)
	}
	defer pf.close()
	sv := &salvager{ctx: ctx, into: into, pf: pf, keys: map[string]map[uint64]bool{}, configured: opts.Queues}
	sv.walk(pf.meta.root)
	if sv.w.skipped > 0 && pf.older != nil && sv.err == nil {
		// The tree of the transaction before is intact wherever the last one did not write
		// (a truncated file loses the newest pages first): walk it too, rows seen once.
		newest := sv.w
		sv.walk(pf.older.root)
		for id, seen := range sv.w.seen {
			newest.seen[id] = newest.seen[id] || seen
		}
		newest.problems = append(newest.problems, sv.w.problems...)
		sv.w = newest
	}
	if sv.err == nil {
		sv.orphans()
	}
	res = sv.res
	res.PagesSkipped = sv.w.skipped
	for _, p := range sv.w.problems {
		res.Problems = append(res.Problems, p.Error())
	}
	switch {
	case sv.err != nil:
		return res, fmt.Errorf("spool: salvage %s: %d rows recovered, then: %w", corruptPath, res.Rows, sv.err)
	case res.PagesSkipped > 0 || res.RowsSkipped > 0:
		return res, fmt.Errorf("spool: salvage %s: %d rows and %d dead letters recovered; %d pages and %d rows skipped: %w",
			corruptPath, res.Rows, res.DeadLetters, res.PagesSkipped, res.RowsSkipped, errors.Join(sv.w.problems...))
	}
	return res, nil
}

// walk walks the tree at root, recovering what it can.
func (sv *salvager) walk(root uint64) {
	sv.w = newWalker(sv.pf, true)
	sv.w.leaf = sv.leaf
	sv.w.onFail = sv.noteDamage
	sv.w.walkPage(nil, root, 0)
	sv.flush()
}

// openSalvage opens path for salvage: a valid meta page is needed (for the page size and the
// root), but pages past the end of a truncated file are only skipped.
func openSalvage(path string) (*pageFile, error) {
	pf, err := openPageFile(path)
	if err == nil && pf == nil {
		return nil, errors.New("empty file")
	}
	if !errors.Is(err, errCorrupt) {
		return pf, err
	}
	pf, ferr := openRaw(path) // the meta does not fit the file: use it anyway
	if ferr != nil || pf == nil {
		return nil, err
	}
	if perr := pf.pickMeta(); perr != nil {
		pf.close()
		return nil, err
	}
	return pf, nil
}

// salvager copies what the walk finds, in chunks, queue by queue.
type salvager struct {
	ctx     context.Context
	into    *Spool
	pf      *pageFile
	w       *walker
	buf     Write
	res     SalvageResult
	err     error                      // the first Append failure: stops everything
	keys    map[string]map[uint64]bool // per queue bucket: row keys recovered
	damaged []damage                   // where the walk skipped pages of queues

	configured []QueueKey // SalvageOptions.Queues
}

// damage is a skipped subtree of a queue: its bucket name ("" = the list of queues itself) and
// the key range its parent gave it (nil = unbounded).
type damage struct {
	queue  string
	lo, hi []byte
}

// leaf takes one row (queues/<queue>/key) or dead letter (dead/key).
func (sv *salvager) leaf(path [][]byte, k, v []byte) {
	if sv.err != nil {
		return
	}
	switch {
	case len(path) == 2 && bytes.Equal(path[0], bucketQueues) && len(k) == 8:
		q, ok := parseQueueName(path[1])
		if !ok {
			return
		}
		name := string(path[1])
		if sv.keys[name][keySeq(k)] {
			return // seen in the newer tree
		}
		if sv.buf.Queue != q || len(sv.buf.DeadLetters) > 0 {
			sv.flush()
		}
		if !sv.addRow(q, v) {
			return
		}
		sv.have(name, keySeq(k))
	case len(path) == 1 && bytes.Equal(path[0], bucketDead) && len(k) == 8:
		if sv.keys[""][keySeq(k)] {
			return
		}
		sv.have("", keySeq(k))
		d, err := decodeDead(k, v)
		if err != nil {
			sv.res.RowsSkipped++
			return
		}
		if len(sv.buf.Rows) > 0 {
			sv.flush()
		}
		sv.buf.DeadLetters = append(sv.buf.DeadLetters, d)
		sv.res.DeadLetters++
	default:
		return
	}
	if len(sv.buf.Rows)+len(sv.buf.DeadLetters) >= salvageChunk {
		sv.flush()
	}
}

// have records that key of the queue bucket name ("" = dead letters) was recovered.
func (sv *salvager) have(name string, k uint64) {
	if sv.keys[name] == nil {
		sv.keys[name] = map[uint64]bool{}
	}
	sv.keys[name][k] = true
}

// addRow buffers one row value of q; false if its data is not a JSON object.
func (sv *salvager) addRow(q QueueKey, v []byte) bool {
	data := rowData(v)
	if len(data) == 0 || data[0] != '{' || !json.Valid(data) {
		sv.res.RowsSkipped++
		return false
	}
	sv.buf.Queue = q
	sv.buf.Rows = append(sv.buf.Rows, append([]byte(nil), data...))
	sv.res.Rows++
	return true
}

// noteDamage remembers where a skipped page of a queue was.
func (sv *salvager) noteDamage(path [][]byte, lo, hi []byte) {
	switch {
	case len(path) == 2 && bytes.Equal(path[0], bucketQueues):
		sv.damaged = append(sv.damaged, damage{queue: string(path[1]), lo: clone(lo), hi: clone(hi)})
	case len(path) == 0 || len(path) == 1 && bytes.Equal(path[0], bucketQueues):
		sv.damaged = append(sv.damaged, damage{}) // the root or the list of queues itself
	}
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// flush appends the buffered chunk to the live spool.
func (sv *salvager) flush() {
	if sv.err != nil || len(sv.buf.Rows)+len(sv.buf.DeadLetters) == 0 {
		sv.buf = Write{}
		return
	}
	if err := sv.into.Append(sv.ctx, sv.buf); err != nil {
		sv.err = err
		sv.w.err = err // stop the walk
	}
	sv.buf = Write{}
}

// orphanLeaf is an intact leaf page of queue rows the walk did not reach.
type orphanLeaf struct {
	first uint64
	keys  []uint64
	vals  [][]byte
}

// orphans recovers the rows of intact leaf pages that the walk could not reach because a page
// above them was damaged. Pages in the freelist are old copies and never used. Such a page
// names no queue: it goes to the damaged subtree whose key range holds its keys; when that is
// ambiguous (damage in several queues over the same keys) its rows are counted as skipped.
func (sv *salvager) orphans() {
	if len(sv.damaged) == 0 {
		return
	}
	free, err := sv.pf.freePages()
	if err != nil { // old copies of pages cannot be told apart: their rows may be delivered already
		sv.w.problems = append(sv.w.problems, fmt.Errorf("freelist unreadable, pages cut off by damage may hold rows already delivered: %w", err))
	}
	isFree := map[uint64]bool{}
	for _, id := range free {
		isFree[id] = true
	}
	byQueue := map[string][]orphanLeaf{}
	unplaced := 0
	var leaves []orphanLeaf
	for id := uint64(2); id < sv.pf.meta.hwm; id++ {
		switch {
		case sv.w.seen[id]:
		case isFree[id]:
			sv.learnQueues(id) // queue names do not change: old copies tell them too
		default:
			if l, ok := sv.orphanAt(id); ok {
				leaves = append(leaves, l)
			} else {
				sv.learnQueues(id)
			}
		}
	}
	for _, l := range leaves {
		if q, ok := sv.placeOrphan(l); ok {
			byQueue[q] = append(byQueue[q], l)
		} else {
			unplaced++
			sv.res.RowsSkipped += len(l.keys)
		}
	}
	if unplaced > 0 {
		sv.w.problems = append(sv.w.problems, fmt.Errorf("%d intact leaf pages cut off where several queues were damaged: their rows cannot be placed", unplaced))
	}
	for name, leaves := range byQueue {
		sv.addOrphans(name, leaves)
	}
}

// placeOrphan finds the one queue whose damaged key ranges hold l's keys.
func (sv *salvager) placeOrphan(l orphanLeaf) (string, bool) {
	first, last := seqKey(l.keys[0]), seqKey(l.keys[len(l.keys)-1])
	found := map[string]bool{}
	for _, d := range sv.damaged {
		switch {
		case d.queue == "":
			for name := range sv.keys {
				if name != "" {
					found[name] = true
				}
			}
			if len(found) == 0 && len(sv.configured) == 1 {
				found[string(queueName(sv.configured[0]))] = true
			}
		case (d.lo == nil || bytes.Compare(first, d.lo) >= 0) && (d.hi == nil || bytes.Compare(last, d.hi) < 0):
			found[d.queue] = true
		}
	}
	if len(found) != 1 {
		return "", false
	}
	for name := range found {
		return name, true
	}
	return "", false
}

// addOrphans appends the rows of name's orphan leaves, in key order, skipping keys recovered
// already.
func (sv *salvager) addOrphans(name string, leaves []orphanLeaf) {
	sv.flush()
	q, _ := parseQueueName([]byte(name))
	sort.Slice(leaves, func(i, j int) bool { return leaves[i].first < leaves[j].first })
	for _, l := range leaves {
		for i, k := range l.keys {
			if sv.keys[name][k] {
				continue
			}
			if sv.addRow(q, l.vals[i]) {
				sv.have(name, k)
				sv.res.Orphans++
			}
			if len(sv.buf.Rows) >= salvageChunk {
				sv.flush()
			}
		}
	}
	sv.flush()
}

// learnQueues collects queue names from page id when it is a leaf listing queue buckets (an
// old copy of the queue list, or of the in-flight list, which uses the same names): when the
// live list is lost they tell which queues exist.
func (sv *salvager) learnQueues(id uint64) {
	p, err := sv.pf.page(id)
	if err != nil {
		return
	}
	flags, es, err := elems(p)
	if err != nil || flags != flagLeaf {
		return
	}
	for _, e := range es {
		if _, ok := parseQueueName(e.key); !e.bucket || !ok {
			return
		}
	}
	for _, e := range es {
		if sv.keys[string(e.key)] == nil {
			sv.keys[string(e.key)] = map[uint64]bool{}
		}
	}
}

// orphanAt reads page id as a leaf of queue rows (8-byte keys, values with a timestamp and a
// JSON object); ok=false for anything else.
func (sv *salvager) orphanAt(id uint64) (orphanLeaf, bool) {
	p, err := sv.pf.page(id)
	if err != nil {
		return orphanLeaf{}, false
	}
	flags, es, err := elems(p)
	if err != nil || flags != flagLeaf || len(es) == 0 {
		return orphanLeaf{}, false
	}
	var l orphanLeaf
	for _, e := range es {
		data := rowData(e.value)
		if e.bucket || len(e.key) != 8 || len(data) == 0 || data[0] != '{' {
			return orphanLeaf{}, false
		}
		l.keys = append(l.keys, keySeq(e.key))
		l.vals = append(l.vals, e.value)
	}
	l.first = l.keys[0]
	return l, true
}

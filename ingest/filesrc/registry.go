package filesrc

import "sync"

// registry knows, per file identity, the offset written so far and which path's reader owns the
// file, so a file reachable from two matched paths (a rotation that the glob still matches, a
// hard link) is read by one reader at a time and resumed exactly where the other stopped.
type registry struct {
	mu      sync.Mutex
	offsets map[fileID]int64
	owners  map[fileID]string
}

func newRegistry() *registry {
	return &registry{offsets: make(map[fileID]int64), owners: make(map[fileID]string)}
}

// seed records a checkpointed offset for an identity not known yet.
func (r *registry) seed(id fileID, offset int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.offsets[id]; !ok {
		r.offsets[id] = offset
	}
}

// known reports whether id has an offset.
func (r *registry) known(id fileID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.offsets[id]
	return ok
}

// claim makes owner the reader of id and returns the offset to resume at; false if another
// reader owns it.
func (r *registry) claim(id fileID, owner string) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.owners[id]; ok && cur != owner {
		return 0, false
	}
	r.owners[id] = owner
	return r.offsets[id], true
}

// advance records the offset written for id.
func (r *registry) advance(id fileID, offset int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offsets[id] = offset
}

// release ends the ownership of id.
func (r *registry) release(id fileID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.owners, id)
}

// prune forgets identities that no reader owns and no matched path holds.
func (r *registry) prune(live map[fileID]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.offsets {
		if _, owned := r.owners[id]; !owned && !live[id] {
			delete(r.offsets, id)
		}
	}
}

// offset returns the offset known for id.
func (r *registry) offset(id fileID) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	off, ok := r.offsets[id]
	return off, ok
}

// owned reports whether a reader owns id.
func (r *registry) owned(id fileID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.owners[id]
	return ok
}

package filesrc

import (
	"bytes"
	"context"
	"fmt"
)

// A file's progress is stored under the key of the path it was read from. When a file moves to
// another matched path (rotation to app.log.1 with a glob matching app.log*), its progress must
// be stored under the new path's key before the old key is reused for the file that replaced it,
// or a restart would read the moved file again. Two checkpoint-only writes keep that true:
//   - handOver, by the reader that finishes a file, while it still owns it;
//   - anchor, before followers start on newly matched paths, for files whose offset came from
//     another path's checkpoint (a restart after a rotation) and that no reader owns.
//
// A checkpoint-only write is a RecordWriter.Write without records.

// handOver stores the offset of id under the keys of the other matched paths that now hold it.
func (s *Source) handOver(ctx context.Context, from string, id fileID) error {
	off, ok := s.reg.offset(id)
	if !ok || off == 0 {
		return nil
	}
	paths, err := expand(s.cfg.Paths)
	if err != nil {
		return err
	}
	cps := map[string][]byte{}
	for _, q := range paths {
		if cur, err := pathID(q); err == nil && q != from && cur == id {
			cps[checkpointKey(q)] = encodeCheckpoint(id, off)
		}
	}
	return s.writeCheckpoints(ctx, from, cps)
}

// anchor stores, for each path, the offset of its file under its key when that offset came from
// another key and no reader owns the file (so no reader advances it concurrently).
func (s *Source) anchor(ctx context.Context, paths []string) error {
	cps := map[string][]byte{}
	for _, q := range paths {
		id, err := pathID(q)
		if err != nil || s.reg.owned(id) {
			continue
		}
		off, ok := s.reg.offset(id)
		if !ok || off == 0 {
			continue
		}
		want := encodeCheckpoint(id, off)
		if have, err := s.opts.Checkpoints.Meta(checkpointKey(q)); err == nil && bytes.Equal(have, want) {
			continue
		}
		cps[checkpointKey(q)] = want
	}
	return s.writeCheckpoints(ctx, "checkpoints", cps)
}

func (s *Source) writeCheckpoints(ctx context.Context, source string, cps map[string][]byte) error {
	if len(cps) == 0 {
		return nil
	}
	if _, err := s.opts.Writer.Write(ctx, source, nil, cps); err != nil {
		return &writeError{fmt.Errorf("write %d file checkpoints: %w", len(cps), err)}
	}
	return nil
}

package filesrc

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// fileID is a file's identity: it survives renames and changes when a new file takes the path.
type fileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

func (id fileID) String() string { return fmt.Sprintf("%d:%d", id.Dev, id.Ino) }

// checkpoint is the JSON value stored under checkpointKey(path).
type checkpoint struct {
	fileID
	Offset int64 `json:"offset"`
}

func checkpointKey(path string) string { return "file/" + path }

func encodeCheckpoint(id fileID, offset int64) []byte {
	b, _ := json.Marshal(checkpoint{fileID: id, Offset: offset}) // plain struct: cannot fail
	return b
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("decode file checkpoint: %w", err)
	}
	return cp, nil
}

// statID returns the identity and size of an open file.
func statID(f *os.File) (fileID, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, 0, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return idOf(fi), fi.Size(), nil
}

// pathID returns the identity of the file now at path.
func pathID(path string) (fileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	return idOf(fi), nil
}

// expand returns the absolute, de-duplicated regular files matching patterns, in order.
func expand(patterns []string) ([]string, error) {
	seen := make(map[string]bool)
	var out []string
	for _, p := range patterns {
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("glob %q: %w", p, err)
		}
		for _, m := range matches {
			abs, err := filepath.Abs(m)
			if err != nil || seen[abs] || !isRegular(abs) {
				continue
			}
			seen[abs] = true
			out = append(out, abs)
		}
	}
	return out, nil
}

func isRegular(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

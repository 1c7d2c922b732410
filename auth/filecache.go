package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// fileCache persists MSAL's token cache in one file, mode 0600, replaced atomically.
// It assumes one pbi-pusher process per file.
type fileCache struct{ path string }

// Replace loads the file into MSAL's cache; a missing file is an empty cache.
func (c fileCache) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read auth.token_cache: %w", err)
	}
	if err := u.Unmarshal(b); err != nil {
		return fmt.Errorf("auth.token_cache %s is corrupt (delete it to sign in again): %w", c.path, err)
	}
	return nil
}

// Export writes MSAL's cache to a temporary file, syncs it and renames it over the file.
func (c fileCache) Export(_ context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	b, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("marshal token cache: %w", err)
	}
	return writeFileAtomic(c.path, b)
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return fmt.Errorf("write auth.token_cache: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write auth.token_cache: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync auth.token_cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close auth.token_cache: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("replace auth.token_cache: %w", err)
	}
	return nil
}

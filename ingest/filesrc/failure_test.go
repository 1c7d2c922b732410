//go:build unix

package filesrc_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// TestFollowWriteErrorStopsSource: a failing spool stops the source with the error.
func TestFollowWriteErrorStopsSource(t *testing.T) {
	dir, rec := t.TempDir(), newRecorder()
	rec.fail = errors.New("spool broken")
	p := filepath.Join(dir, "a.log")
	appendLines(t, p, 0, 3)
	src := newFileSource(t, rec, config.Source{Type: "file", Paths: []string{p}, Follow: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := src.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "spool broken") || ctx.Err() != nil {
		t.Errorf("Run: %v (ctx %v), want the write error before the deadline", err, ctx.Err())
	}
}

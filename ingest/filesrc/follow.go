package filesrc

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"time"
)

// followerExit is sent by a path's follower when it ends.
type followerExit struct {
	path string
	err  error
}

// followers runs one follower goroutine per matched path.
type followers struct {
	active  map[string]bool
	lastErr map[string]string // last error logged per path, to log a repeating error once
	exits   chan followerExit
	wg      sync.WaitGroup
}

// runFollow expands the globs every poll interval and follows each matched path until ctx ends
// or the RecordWriter fails.
func (s *Source) runFollow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fw := &followers{active: map[string]bool{}, lastErr: map[string]string{}, exits: make(chan followerExit)}
	defer fw.stop(cancel)
	ticker := time.NewTicker(s.opts.PollInterval)
	defer ticker.Stop()
	if err := s.discover(ctx, fw, true); err != nil {
		return err
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case ex := <-fw.exits:
			err = s.exited(fw, ex)
		case <-ticker.C:
			err = s.discover(ctx, fw, false)
		}
		if err != nil {
			return err
		}
	}
}

// discover starts a follower for each matched path that has none, after loading the
// checkpoints of all new paths (so a rotated file resumes where its old path stopped).
func (s *Source) discover(ctx context.Context, fw *followers, first bool) error {
	paths, err := expand(s.cfg.Paths)
	if err != nil {
		return err
	}
	live := liveIDs(paths)
	s.reg.prune(live)
	var fresh []string
	for _, p := range paths {
		if !fw.active[p] {
			fresh = append(fresh, p)
		}
	}
	if err := s.seed(fresh, live, first); err != nil {
		return err
	}
	if err := s.anchor(ctx, fresh); err != nil {
		return err
	}
	for _, p := range fresh {
		fw.active[p] = true
		fw.wg.Add(1)
		go func() {
			defer fw.wg.Done()
			fw.exits <- followerExit{path: p, err: s.follow(ctx, p)}
		}()
	}
	return nil
}

// exited handles a follower's end: a write error stops the source, other errors are logged
// (once while they repeat) and the path is retried at the next poll.
func (s *Source) exited(fw *followers, ex followerExit) error {
	delete(fw.active, ex.path)
	if ex.err == nil {
		delete(fw.lastErr, ex.path)
		return nil
	}
	if fatal(ex.err) {
		return ex.err
	}
	if msg := ex.err.Error(); fw.lastErr[ex.path] != msg {
		fw.lastErr[ex.path] = msg
		s.log.Warn("cannot follow file, retrying", "path", ex.path, "err", ex.err)
	}
	return nil
}

// stop cancels the followers and waits for them.
func (fw *followers) stop(cancel context.CancelFunc) {
	cancel()
	go func() {
		fw.wg.Wait()
		close(fw.exits)
	}()
	for range fw.exits { //nolint:revive // drain until every follower has exited
	}
}

// follow reads the file at path, then each file that replaces it (rotation), until the path
// no longer names a file, another path's follower owns the file, or ctx ends.
func (s *Source) follow(ctx context.Context, path string) error {
	for ctx.Err() == nil {
		o, err := s.openClaimed(path)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && o == nil) {
			return nil
		}
		if err != nil {
			return err
		}
		reason, err := s.readFile(ctx, path, o.f, o.id, o.start)
		if err == nil && reason != endCanceled {
			err = s.handOver(ctx, path, o.id)
		}
		s.close(o)
		if err != nil || reason == endCanceled {
			return err
		}
		s.log.Info("file rotated, reading the new file at the path", "path", path, "done", o.id.String())
	}
	return nil
}

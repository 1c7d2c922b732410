package spool_test

import (
	"context"
	"errors"

	"path/filepath"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/spool"
	"github.com/pbi-pusher/pbi-pusher/spool/spooltest"
)

// TestDiskFullPausesIngestNeverDelivery fills a 24 MiB tmpfs: Append must stop with ErrFull
// wrapping ErrNoSpace while the reserve is still free, Take/Ack/RecordPost must keep working,
// and Append must resume by itself once acks free pages.
func TestDiskFullPausesIngestNeverDelivery(t *testing.T) {
	t.Parallel()
	dir := spooltest.MountTmpfs(t, "24m")
	s, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{ReserveBytes: 4 << 20})
	must(t, err)
	defer func() { must(t, s.Close()) }()
	data := padded("a", 100000)
	appended := 0
	for appended < len(data) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := s.Append(ctx, spool.Write{Queue: qA, Rows: data[appended : appended+500]})
		cancel()
		if err != nil {
			if !errors.Is(err, spool.ErrFull) || !errors.Is(err, spool.ErrNoSpace) {
				t.Fatalf("append on a full disk: %v, want ErrFull and ErrNoSpace", err)
			}
			break
		}
		appended += 500
	}
	if appended == len(data) || appended == 0 {
		t.Fatalf("appended %d rows: the disk never filled or nothing fit", appended)
	}
	if !s.Full() || !s.Stats().DiskFull {
		t.Fatal("Full() / Stats().DiskFull false on a full disk")
	}
	t.Logf("disk full after %d rows", appended)
	// Delivery keeps going in the reserve.
	delivered := 0
	for s.Backlog(qA).Rows > 0 {
		b, err := s.Take(qA, 1000, 0)
		must(t, err)
		must(t, s.RecordPost("sales", time.Now(), len(b.Rows)))
		must(t, s.Ack(b))
		delivered += len(b.Rows)
	}
	if delivered != appended {
		t.Fatalf("delivered %d of %d rows", delivered, appended)
	}
	// Ingest resumes by itself: the acked rows' pages are free inside the file.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, s.Append(ctx, spool.Write{Queue: qA, Rows: data[:500]}))
	if s.Full() || s.Stats().DiskFull {
		t.Fatal("still full after the backlog was delivered")
	}
	must(t, s.Check())
}

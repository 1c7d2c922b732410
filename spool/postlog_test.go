package spool

import (
	"path/filepath"
	"testing"
	"time"
)

func TestPostLogSurvivesReopenAndForgetsAfterAnHour(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, rows := range []int{100, 200, 300} {
		if err := s.RecordPost("A", t0.Add(time.Duration(i)*20*time.Minute), rows); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordPost("B", t0, 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.RecentPosts("A", t0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Rows != 200 || !got[0].At.Equal(t0.Add(20*time.Minute)) || got[1].Rows != 300 {
		t.Fatalf("recent posts of A after reopen = %+v, want the 200- and 300-row posts", got)
	}
	// A record an hour and a minute after the first keeps it (a restart counts the POSTs that
	// may still be in flight an hour ago); one later prunes it.
	if err := s.RecordPost("A", t0.Add(61*time.Minute), 1); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.RecentPosts("A", time.Time{}); len(all) != 4 || all[0].Rows != 100 {
		t.Fatalf("61 minutes later = %+v, want the first record kept", all)
	}
	if err := s.RecordPost("A", t0.Add(61*time.Minute+time.Second), 1); err != nil {
		t.Fatal(err)
	}
	all, _ := s.RecentPosts("A", time.Time{})
	if len(all) != 4 || all[0].Rows != 200 {
		t.Fatalf("after pruning = %+v, want the first record gone", all)
	}
	if b, _ := s.RecentPosts("B", time.Time{}); len(b) != 1 || b[0].Rows != 7 {
		t.Fatalf("dataset B = %+v", b)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

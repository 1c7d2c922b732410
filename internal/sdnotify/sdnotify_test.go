package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNotifierSendsDatagrams(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	env := map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "4000000"}
	n := New(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if got := n.WatchdogInterval(); got != 2*time.Second {
		t.Fatalf("watchdog interval %v, want 2s", got)
	}
	tests := []struct {
		name string
		send func() error
		want string
	}{
		{"ready", func() error { return n.Ready("serving") }, "READY=1\nSTATUS=serving"},
		{"watchdog", n.Watchdog, "WATCHDOG=1"},
		{"stopping", n.Stopping, "STOPPING=1\nSTATUS=stopping"},
		{"reloading", n.Reloading, "RELOADING=1\nMONOTONIC_USEC="},
	}
	buf := make([]byte, 256)
	for _, tc := range tests {
		if err := tc.send(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%s: read: %v", tc.name, err)
		}
		if got := string(buf[:k]); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: sent %q, want prefix %q", tc.name, got, tc.want)
		}
	}
}

func TestNotifierWithoutSocketIsNoop(t *testing.T) {
	n := New(func(string) (string, bool) { return "", false })
	if n.Enabled() || n.WatchdogInterval() != 0 {
		t.Fatal("notifier enabled without NOTIFY_SOCKET")
	}
	if err := n.Ready("x"); err != nil {
		t.Fatal(err)
	}
	var nilN *Notifier
	if err := nilN.Watchdog(); err != nil {
		t.Fatal(err)
	}
}

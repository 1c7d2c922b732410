package main

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// TestEmbeddedEmulatorCreatesConfiguredWorkspace: the emulator `backfill -emulator` starts
// knows the workspace the config names (and keeps the config pointing at it); others are 404.
func TestEmbeddedEmulatorCreatesConfiguredWorkspace(t *testing.T) {
	const ws = "6f2c1c3e-0000-4000-8000-0000000000cc"
	cfg := &config.Config{PowerBI: config.PowerBI{Workspace: ws}}
	stop, err := startEmbedded(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if cfg.PowerBI.Workspace != ws {
		t.Fatalf("workspace rewritten to %q", cfg.PowerBI.Workspace)
	}
	for _, tc := range []struct {
		group  string
		status int
	}{{ws, 200}, {"6f2c1c3e-0000-4000-8000-0000000000cd", 404}} {
		req, _ := http.NewRequest("GET", cfg.PowerBI.APIURL+"/groups/"+tc.group+"/datasets", nil)
		req.Header.Set("Authorization", "Bearer "+cfg.Auth.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("GET groups/%s/datasets: %d, want %d", tc.group, resp.StatusCode, tc.status)
		}
	}
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/emulator"
)

// noCredentials reports whether the config names no Power BI service and no credentials: the
// case where backfill uses the embedded emulator.
func noCredentials(cfg *config.Config) bool {
	return cfg.PowerBI.APIURL == "" && cfg.Auth.Method == "static_token" && cfg.Auth.Token == ""
}

// startEmbedded serves an emulator on a loopback port and points cfg at it.
func startEmbedded(cfg *config.Config, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("embedded emulator: %w", err)
	}
	buf := make([]byte, 16)
	_, _ = rand.Read(buf)
	token := hex.EncodeToString(buf)
	opts := emulator.Options{Tokens: []string{token}, Logger: log.With("component", "emulator")}
	if ws := cfg.PowerBI.Workspace; ws != "" { // the workspace the config names exists
		opts.Workspaces = []emulator.Workspace{{ID: ws, Name: "pbi-pusher backfill"}}
	}
	srv := &http.Server{
		Handler:           emulator.New(opts),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("embedded emulator stopped", "err", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	cfg.PowerBI.APIURL = base + "/v1.0/myorg"
	cfg.Auth = config.Auth{Method: "static_token", Token: token}
	log.Info("pushing into the embedded Power BI emulator, not the service", "url", base+"/")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

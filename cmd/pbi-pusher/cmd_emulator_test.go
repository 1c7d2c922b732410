package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRunEmulatorUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, "example:"},
		{[]string{"-nope"}, 2, "flag provided but not defined"},
		{[]string{"extra"}, 2, "no arguments"},
		{[]string{"-tls-cert", "x"}, 2, "go together"},
		{[]string{"-workspace", "sales"}, 2, "must be a uuid"},
		{[]string{"-throttle-body", "xml"}, 2, "want message or error"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		if code := runEmulator(context.Background(), tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: code %d stderr %q", tc.args, code, errb.String())
		}
	}
}

func TestRunEmulatorServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		done <- runEmulator(ctx, []string{"-listen", "127.0.0.1:0", "-token", "a,b", "-posts-per-minute", "1",
			"-workspace", "6f2c1c3e-0000-4000-8000-0000000000aa=Sales team", "-strict-types", "-throttle-body", "error"}, pw, io.Discard)
		pw.Close()
	}()
	line, _ := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	base := regexp.MustCompile(`http://[0-9.:]+/v1.0/myorg`).FindString(line)
	if base == "" {
		t.Fatalf("no URL in %q", line)
	}
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/datasets", 200, `"value":[]`},
		{"/groups", 200, `"value":[{"id":"6f2c1c3e-0000-4000-8000-0000000000aa","isReadOnly":false,"isOnDedicatedCapacity":false,"name":"Sales team"}]`},
		{"/groups/6f2c1c3e-0000-4000-8000-0000000000aa/datasets", 200, `"value":[]`},
		{"/groups/6f2c1c3e-0000-4000-8000-0000000000ab/datasets", 404, "PowerBIEntityNotFound"},
	} {
		req, _ := http.NewRequest("GET", base+tc.path, nil)
		req.Header.Set("Authorization", "Bearer b")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Fatalf("GET %s: %d %s, want %d with %s", tc.path, resp.StatusCode, body, tc.status, tc.want)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
}

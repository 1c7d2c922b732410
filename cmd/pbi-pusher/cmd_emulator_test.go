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
		done <- runEmulator(ctx, []string{"-listen", "127.0.0.1:0", "-token", "a,b", "-posts-per-minute", "1"}, pw, io.Discard)
		pw.Close()
	}()
	line, _ := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	base := regexp.MustCompile(`http://[0-9.:]+/v1.0/myorg`).FindString(line)
	if base == "" {
		t.Fatalf("no URL in %q", line)
	}
	req, _ := http.NewRequest("GET", base+"/datasets", nil)
	req.Header.Set("Authorization", "Bearer b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", err, resp)
	}
	resp.Body.Close()
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

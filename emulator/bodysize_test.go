package emulator_test

import (
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// TestBodyOver16MB sends a real 16 MB + 1 byte POST rows body and expects the 413 to reach
// the client, while a body of exactly 16 MB is read (and then rejected as malformed JSON,
// which fails fast on its first byte).
func TestBodyOver16MB(t *testing.T) {
	e := emulatortest.Start(t, emulator.Options{})
	id := create(t, e, "datasets", fixtureBody("Big"))
	exact := strings.Repeat("x", emulator.DefaultMaxBodyBytes)
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"16 MB is read", exact, 400, "BadRequest"},
		{"16 MB + 1 is too large", exact + " ", 413, "RequestEntityTooLarge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, e, "POST", "datasets/"+id+"/tables/Sales/rows", tc.body, e.Token)
			if r.status != tc.status || r.code != tc.code {
				t.Fatalf("got %d %q: %.200s", r.status, r.code, r.body)
			}
		})
	}
}

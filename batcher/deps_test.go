package batcher

import (
	"os/exec"
	"strings"
	"testing"
)

// The scheduler and dispatcher know destinations only through Destination: batcher must not
// depend on the Power BI client (sink) nor on MSAL, whatever imports them elsewhere.
func TestBatcherDependsOnNoDestination(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %v", deps)
	}
	for _, dep := range deps {
		for _, banned := range []string{
			"github.com/pbi-pusher/pbi-pusher/sink",
			"github.com/pbi-pusher/pbi-pusher/auth",
			"github.com/pbi-pusher/pbi-pusher/eventstream",
			"github.com/AzureAD/microsoft-authentication-library-for-go",
			"github.com/segmentio/kafka-go",
		} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("batcher depends on %s", dep)
			}
		}
	}
}

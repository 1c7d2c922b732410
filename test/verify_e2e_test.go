package e2e

// Acceptance tests of `pbi-pusher verify` (issue 15): the spool's delivered count against the
// service's own count (executeQueries), through the real binary, kfake and the emulator.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
)

// verifyOut is `pbi-pusher verify -json`.
type verifyOut []struct {
	Delivered  int64  `json:"delivered"`
	Service    int64  `json:"service_rows"`
	Difference int64  `json:"difference"`
	Duplicates *int64 `json:"duplicate_rows"`
	Status     string `json:"status"`
}

func runVerify(t *testing.T, emu *emulatortest.Emulator, cfg string) (verifyOut, int) {
	t.Helper()
	res := runBinary(t, 60*time.Second, []string{"E2E_TOKEN=" + emu.Token}, "verify", "-config", cfg,
		"-table", "Telemetry/Readings", "-key", "Seq", "-json")
	var out verifyOut
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || len(out) != 1 {
		t.Fatalf("verify: exit %d, %v\nstdout:\n%s\nstderr:\n%s", res.code, err, res.stdout, res.stderr)
	}
	return out, res.code
}

// verify compares the spool's delivered count with the service's: after a run with kill -9,
// restarts and connections dropped after the rows were stored, it reports exactly the duplicate
// rows the emulator holds (exit 4); after a clean run every count agrees (exit 0).
func TestVerifyE2E(t *testing.T) {
	t.Parallel()
	l := limits{rowsPerPost: 500, postsPerMinute: 120, rowsPerHour: 1_000_000, pending: 3}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "verify-crash", "verify-clean"),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addrs := c.ListenAddrs()

	t.Run("AfterKill9", func(t *testing.T) {
		// A share of the POSTs is stored and then its connection dropped: the agent cannot know,
		// and resends those rows (duplicates the emulator holds).
		emu := ingestEmulator(t, l, emulator.Options{DropRate: 0.05, Seed: 7})
		cfg := ingestConfig(t, t.TempDir(), emu, l, ingestKafkaSource(addrs, "verify-crash", "g-verify-crash", ""))
		s := ingestMessages(3_000_000, 20_000, 0)
		ingestAwaitProduced(t, ingestProduce(addrs, nil, "verify-crash", s.msgs, 2000, 0), 60*time.Second)
		for i := range 2 { // two kills mid-run, then a run to the end
			p := ingestStart(t, fmt.Sprintf("verify-%d", i), cfg, "E2E_TOKEN="+emu.Token)
			// A restarted process that owns its partitions again restores their hourly buckets
			// from its spool (README "Scale-out"): no wait for the hour's refill.
			ingestAwaitStored(t, emu, int64(len(s.rows)*(i+1)/3), 60*time.Second, p)
			p.kill9(t)
		}
		p := ingestStart(t, "verify-last", cfg, "E2E_TOKEN="+emu.Token)
		ingestAwaitDistinct(t, emu, len(s.rows), 90*time.Second, p)
		p.term(t)
		rows, st := ingestRows(t, emu)
		dups := ingestDups(t, s.rows, rows)
		out, code := runVerify(t, emu, cfg)
		t.Logf("emulator: %d rows for %d sent, %d duplicates (%d dropped connections); verify: %+v, exit %d",
			len(rows), len(s.rows), dups, st.Dropped, out[0], code)
		if dups == 0 {
			t.Fatal("no duplicates at the emulator: the run proves nothing")
		}
		if out[0].Duplicates == nil || *out[0].Duplicates != int64(dups) || out[0].Service != int64(len(rows)) ||
			out[0].Delivered != int64(len(s.rows)) || out[0].Difference != int64(dups) || out[0].Status != "extra" || code != 4 {
			t.Errorf("verify %+v exit %d; want %d duplicates, %d service rows, %d delivered, status extra, exit 4",
				out[0], code, dups, len(rows), len(s.rows))
		}
	})

	t.Run("Clean", func(t *testing.T) {
		emu := ingestEmulator(t, l, emulator.Options{})
		cfg := ingestConfig(t, t.TempDir(), emu, l, ingestKafkaSource(addrs, "verify-clean", "g-verify-clean", ""))
		s := ingestMessages(4_000_000, 5_000, 0)
		ingestAwaitProduced(t, ingestProduce(addrs, nil, "verify-clean", s.msgs, 2000, 0), 60*time.Second)
		p := ingestStart(t, "verify-clean", cfg, "E2E_TOKEN="+emu.Token)
		ingestAwaitStored(t, emu, int64(len(s.rows)), 60*time.Second, p)
		// The running agent shows the same figures on /status (read-back).
		ingestEventually(t, 45*time.Second, "service_rows on /status", func() bool {
			svc, diff := scaleStatusServiceRows(t, p)
			return svc == int64(len(s.rows)) && diff == 0
		})
		p.term(t)
		out, code := runVerify(t, emu, cfg)
		t.Logf("verify: %+v, exit %d", out[0], code)
		if code != 0 || out[0].Status != "ok" || out[0].Difference != 0 || *out[0].Duplicates != 0 ||
			out[0].Service != int64(len(s.rows)) {
			t.Errorf("verify after a clean run: %+v exit %d, want every count %d and exit 0", out[0], code, len(s.rows))
		}
	})
}

// scaleStatusServiceRows reads Telemetry/Readings' service_rows and service_minus_delivered
// from p's /status (-1 when absent).
func scaleStatusServiceRows(t *testing.T, p *ingestProc) (int64, int64) {
	t.Helper()
	code, body := opsGet(t, "http://"+p.adminAddr(t)+"/status?format=json")
	if code != http.StatusOK {
		t.Fatalf("/status: %d %s", code, body)
	}
	var st struct {
		Datasets []struct {
			Tables []struct {
				Service *int64 `json:"service_rows"`
				Diff    *int64 `json:"service_minus_delivered"`
			} `json:"tables"`
		} `json:"datasets"`
	}
	if err := json.Unmarshal(body, &st); err != nil || len(st.Datasets) == 0 || len(st.Datasets[0].Tables) == 0 {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	tb := st.Datasets[0].Tables[0]
	if tb.Service == nil || tb.Diff == nil {
		return -1, -1
	}
	return *tb.Service, *tb.Diff
}

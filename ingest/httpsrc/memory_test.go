//go:build !race

// The race detector multiplies memory use; this measurement runs in the plain build (.ci/run
// runs it in every CI run).

package httpsrc_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/ingest/httpsrc"
	"github.com/pbi-pusher/pbi-pusher/spool"
)

// procStatusKiB reads a "Vm…:  N kB" field of /proc/self/status.
func procStatusKiB(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("%s not in /proc/self/status", field)
	return 0
}

// bigBody generates a POST rows body of n rows padded to about size bytes, without holding it.
type bigBody struct {
	n, i int
	pad  string
	buf  bytes.Buffer
}

func newBigBody(n, size int) *bigBody {
	return &bigBody{n: n, pad: strings.Repeat("x", size/n-32)}
}

func (b *bigBody) Read(p []byte) (int, error) {
	for b.buf.Len() < len(p) && b.i <= b.n {
		switch {
		case b.i == 0:
			b.buf.WriteString(`{"rows":[`)
		case b.i == b.n:
			b.buf.WriteString(`]}`)
		}
		if b.i < b.n {
			if b.i > 0 {
				b.buf.WriteByte(',')
			}
			fmt.Fprintf(&b.buf, `{"Name":"%s","Value":%d}`, b.pad, b.i)
		}
		b.i++
	}
	if b.buf.Len() == 0 {
		return 0, io.EOF
	}
	return b.buf.Read(p)
}

// TestPeakRSSOfLargeBody: a 16 MiB body (10,000 rows, just under the body limit) raises the
// process's peak RSS (VmHWM, reset before the request) by at most 64 MiB over idle. It measures
// the cold case, the worst one: a fresh spool file and the first request, so the bbolt file
// grows from nothing inside the request's transaction.
func TestPeakRSSOfLargeBody(t *testing.T) {
	e := newEnv(t, spool.Options{})
	srv := httptest.NewServer(newServer(t, config.Source{}, httpsrc.Options{Resolve: e.resolve}).Handler())
	defer srv.Close()
	const size = 16<<20 - 64<<10
	if n := e.backlog(); n != 0 {
		t.Fatalf("fresh spool holds %d rows", n)
	}
	// bbolt grows its file ahead by a sparse truncate: the blocks on disk say what was written.
	fi, err := os.Stat(e.spool.Path())
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blocks*512 > 1<<20 {
		t.Fatalf("spool file not fresh: %d bytes on disk", st.Blocks*512)
	}
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
	idle := procStatusKiB(t, "VmRSS")
	postBig(t, srv.URL, size)
	peak := procStatusKiB(t, "VmHWM")
	if n := e.backlog(); n != 10000 {
		t.Fatalf("spooled %d rows, want 10000", n)
	}
	grew := (peak - idle) >> 10
	t.Logf("16 MiB body on a fresh spool: idle RSS %d MiB, peak %d MiB, +%d MiB", idle>>10, peak>>10, grew)
	if grew > 64 {
		t.Errorf("peak RSS grew by %d MiB for a 16 MiB body, want <= 64 MiB", grew)
	}
}

func postBig(t *testing.T, url string, size int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+rowsURL, newBigBody(10000, size))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
}

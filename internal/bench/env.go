package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pbi-pusher/pbi-pusher/emulator"
)

// token is the bearer token every bench emulator accepts.
const token = "bench-token"

// emu is an emulator served on a loopback port for one measurement.
type emu struct {
	srv  *emulator.Server
	hs   *http.Server
	base string // REST base: http://127.0.0.1:PORT/v1.0/myorg
}

func startEmu(o emulator.Options) (*emu, error) {
	o.Tokens = []string{token}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("emulator listen: %w", err)
	}
	e := &emu{srv: emulator.New(o), base: "http://" + ln.Addr().String() + "/v1.0/myorg"}
	e.hs = &http.Server{Handler: e.srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.hs.Serve(ln) }()
	return e, nil
}

func (e *emu) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.hs.Shutdown(ctx)
}

// dataset returns the stats of the dataset named name (zero if absent).
func (e *emu) dataset(name string) emulator.DatasetStats {
	for _, d := range e.srv.DatasetsByName(name) {
		return d
	}
	return emulator.DatasetStats{}
}

// storedAll says whether a peer that exited left the rows rows of its input in dataset's table: a
// time is only a figure when every row arrived.
func (e *emu) storedAll(dataset string, rows int) error {
	if n := e.stored(dataset); n != int64(rows) {
		return fmt.Errorf("exited with %d of %d rows stored", n, rows)
	}
	return nil
}

// stored returns the rows the table holds (duplicates included).
func (e *emu) stored(dataset string) int64 {
	d := e.dataset(dataset)
	for _, t := range d.Tables {
		return int64(t.Rows)
	}
	return 0
}

// distinct returns how many distinct ids the table holds and how many rows it holds.
func (e *emu) distinct(dataset string) (distinct, rows int) {
	d := e.dataset(dataset)
	seen := map[string]bool{}
	for _, t := range d.Tables {
		for _, r := range e.srv.Rows(d.ID, t.Name) {
			seen[fmt.Sprint(r["id"])] = true
			rows++
		}
	}
	return len(seen), rows
}

// createDataset creates a push dataset of the bench table (for the peers, which do not).
func (e *emu) createDataset(name string) (rowsURL string, err error) {
	def := map[string]any{"name": name, "defaultMode": "Push", "tables": []any{map[string]any{
		"name": tableName, "columns": columnsJSON()}}}
	body, _ := json.Marshal(def)
	req, _ := http.NewRequest(http.MethodPost, e.base+"/datasets?defaultRetentionPolicy=None", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("create dataset %s: %w", name, err)
	}
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	if resp.StatusCode/100 != 2 || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return "", fmt.Errorf("create dataset %s: status %s", name, resp.Status)
	}
	return e.base + "/datasets/" + out.ID + "/tables/" + tableName + "/rows", nil
}

// The bench table: 200-byte JSON rows.
const tableName = "Readings"

var columns = []struct{ name, typ string }{
	{"id", "Int64"}, {"device", "String"}, {"site", "String"}, {"at", "DateTime"},
	{"temp", "Double"}, {"humidity", "Double"}, {"ok", "Boolean"}, {"note", "String"},
}

func columnsJSON() []any {
	out := make([]any, len(columns))
	for i, c := range columns {
		out[i] = map[string]any{"name": c.name, "dataType": c.typ}
	}
	return out
}

// row returns row i as about 200 bytes of JSON (no newline).
func row(i int) []byte {
	t := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	b := make([]byte, 0, 208)
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"device":"sensor-`...)
	b = strconv.AppendInt(b, int64(1000+i%500), 10)
	b = append(b, `","site":"plant-north-03","at":"`...)
	b = t.AppendFormat(b, time.RFC3339)
	b = append(b, `","temp":`...)
	b = strconv.AppendFloat(b, 15+float64(i%1000)/37, 'f', 3, 64)
	b = append(b, `,"humidity":`...)
	b = strconv.AppendFloat(b, 40+float64(i%700)/29, 'f', 2, 64)
	b = append(b, `,"ok":`...)
	b = strconv.AppendBool(b, i%7 != 0)
	b = append(b, `,"note":"`...)
	pad := 200 - len(b) - 2
	b = append(b, strings.Repeat("x", max(8, pad))...)
	return append(b, `"}`...)
}

// writeRows writes n rows from first as JSON lines to path and returns its size.
func writeRows(path string, first, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bytes.NewBuffer(make([]byte, 0, 1<<20))
	var size int64
	for i := first; i < first+n; i++ {
		w.Write(row(i))
		w.WriteByte('\n')
		if w.Len() >= 1<<20 {
			k, err := f.Write(w.Bytes())
			size += int64(k)
			if err != nil {
				f.Close()
				return size, err
			}
			w.Reset()
		}
	}
	k, err := f.Write(w.Bytes())
	size += int64(k)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return size, err
}

// configYAML is a pbi-pusher config for the emulator at base with the given datasets (limits
// at Power BI's defaults unless extra sets them) and sources.
func configYAML(dir, base string, datasets []string, limits, sources string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "powerbi:\n  api_url: %s\nauth:\n  method: static_token\n  token: %s\nspool:\n  path: %s\nbatch:\n  linger: 100ms\nadmin:\n  listen: \"off\"\nlog:\n  format: json\n  level: warn\ndatasets:\n",
		base, token, filepath.Join(dir, "spool.db"))
	for _, d := range datasets {
		fmt.Fprintf(&b, "  - name: %s\n    retention: None\n", d)
		if limits != "" {
			fmt.Fprintf(&b, "    limits: {%s}\n", limits)
		}
		fmt.Fprintf(&b, "    tables:\n      - name: %s\n        columns:\n", tableName)
		for _, c := range columns {
			fmt.Fprintf(&b, "          - {name: %s, type: %s}\n", c.name, c.typ)
		}
	}
	if sources != "" {
		b.WriteString("sources:\n" + sources)
	}
	return b.String()
}

func writeConfig(dir, base string, datasets []string, limits, sources string) (string, error) {
	path := filepath.Join(dir, "config.yaml")
	return path, os.WriteFile(path, []byte(configYAML(dir, base, datasets, limits, sources)), 0o600)
}

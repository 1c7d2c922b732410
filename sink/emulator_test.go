package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/emulator"
	"github.com/pbi-pusher/pbi-pusher/emulator/emulatortest"
	"github.com/pbi-pusher/pbi-pusher/schema"
)

const testWorkspace = "6f2c1c3e-0000-4000-8000-000000000001"

// emu starts an emulator and returns it with a config pointing at it (workspace set).
func emu(t *testing.T) *emulatortest.Emulator {
	t.Helper()
	return emulatortest.Start(t, emulator.Options{Workspaces: []emulator.Workspace{{ID: testWorkspace, Name: "sink tests"}}})
}

// emuConfig is a config for e with the given datasets, in testWorkspace.
func emuConfig(e *emulatortest.Emulator, datasets ...config.Dataset) *config.Config {
	return &config.Config{PowerBI: config.PowerBI{APIURL: e.URL, Workspace: testWorkspace}, Datasets: datasets}
}

// emuClient is a client for cfg on e with e's token.
func emuClient(t *testing.T, e *emulatortest.Emulator, cfg *config.Config, store MetaStore) *Client {
	t.Helper()
	return newClient(t, cfg, &countingTokens{tokens: []string{e.Token}}, store, e.Client)
}

// ds is a dataset config with one table.
func ds(name, table string, columns []config.Column) config.Dataset {
	return config.Dataset{Name: name, Tables: []config.Table{{Name: table, Columns: columns}}}
}

// emuDo sends a raw request to the emulator's workspace and returns the status and decoded body.
func emuDo(t *testing.T, e *emulatortest.Emulator, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, e.URL+"/groups/"+testWorkspace+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// emuCreate creates a dataset behind pbi-pusher's back and returns its id.
func emuCreate(t *testing.T, e *emulatortest.Emulator, d config.Dataset, mode string) string {
	t.Helper()
	tables := make([]schema.TableDef, 0, len(d.Tables))
	for _, tb := range d.Tables {
		def, err := tableDef(tb)
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, def)
	}
	st, out := emuDo(t, e, http.MethodPost, "/datasets", map[string]any{"name": d.Name, "defaultMode": mode, "tables": tables})
	if st != http.StatusCreated {
		t.Fatalf("create dataset: HTTP %d %v", st, out)
	}
	return out["id"].(string)
}

// emuColumns returns the columns of table in dataset id as "name:type" strings.
func emuColumns(t *testing.T, e *emulatortest.Emulator, id, table string) []string {
	t.Helper()
	for _, d := range e.Server.Stats().Datasets {
		if d.ID != id {
			continue
		}
		for _, tb := range d.Tables {
			if tb.Name == table {
				var out []string
				for _, c := range tb.Columns {
					out = append(out, c.Name+":"+canonicalType(c.DataType))
				}
				return out
			}
		}
	}
	return nil
}

// onlyDataset returns the id of the single dataset called name, failing otherwise.
func onlyDataset(t *testing.T, e *emulatortest.Emulator, name string) emulator.DatasetStats {
	t.Helper()
	got := e.Server.DatasetsByName(name)
	if len(got) != 1 {
		t.Fatalf("emulator holds %d datasets named %q, want 1", len(got), name)
	}
	return got[0]
}

func ctx(t *testing.T) context.Context { return t.Context() }

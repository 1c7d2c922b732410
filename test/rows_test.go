package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"
)

// row is one generated input row; Seq identifies it.
type row struct {
	Seq    int64
	Device string
	At     time.Time
	Value  float64
	Ok     bool
}

var devices = []string{
	"pump-α", `valve "B"`, "sensor, north", "Zürich-7 — 東京", "line\twith tab", "emoji 🚀 ok", "plain",
}

// genRows returns n rows whose Seq start at base.
func genRows(base, n int) []row {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	out := make([]row, n)
	for i := range out {
		seq := int64(base + i)
		out[i] = row{
			Seq:    seq*1_000_003 - 4_000_000_000_000, // wide Int64 values, negative and positive
			Device: devices[i%len(devices)],
			At:     t0.Add(time.Duration(i) * 2 * time.Second),
			Value:  math.Round((float64(i)*0.37-500)*1000) / 1000,
			Ok:     i%3 == 0,
		}
	}
	return out
}

func writeJSONL(t *testing.T, path string, rows []row) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for i, r := range rows {
		// Alternate DateTime spellings: UTC, an offset, and unix milliseconds are all valid input.
		var at any = r.At.Format(time.RFC3339Nano)
		if i%2 == 1 {
			at = r.At.In(time.FixedZone("", 2*3600)).Format(time.RFC3339)
		}
		if err := enc.Encode(map[string]any{"Seq": r.Seq, "Device": r.Device, "At": at, "Value": r.Value, "Ok": r.Ok}); err != nil {
			t.Fatal(err)
		}
	}
}

func writeCSV(t *testing.T, path string, rows []row) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := csv.NewWriter(f)
	_ = w.Write([]string{"Seq", "Device", "At", "Value", "Ok"})
	for _, r := range rows {
		_ = w.Write([]string{strconv.FormatInt(r.Seq, 10), r.Device, r.At.Format(time.RFC3339),
			strconv.FormatFloat(r.Value, 'f', -1, 64), strconv.FormatBool(r.Ok)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
}

// checkDelivered asserts that got holds every want row exactly once with its values intact.
func checkDelivered(t *testing.T, want []row, got []map[string]any) {
	t.Helper()
	bySeq := map[int64]row{}
	for _, r := range want {
		bySeq[r.Seq] = r
	}
	seen := map[int64]int{}
	bad := 0
	for _, g := range got {
		seq, err := toInt64(g["Seq"])
		if err != nil {
			t.Fatalf("row without a valid Seq: %v (%v)", g, err)
		}
		seen[seq]++
		w, ok := bySeq[seq]
		if !ok {
			t.Fatalf("unexpected row %v", g)
		}
		if msg := diffRow(w, g); msg != "" && bad < 5 {
			bad++
			t.Errorf("row Seq=%d: %s", seq, msg)
		}
	}
	missing, dups := 0, 0
	for seq := range bySeq {
		switch n := seen[seq]; {
		case n == 0:
			missing++
		case n > 1:
			dups += n - 1
		}
	}
	if missing > 0 || dups > 0 || len(got) != len(want) {
		t.Fatalf("delivered %d rows for %d sent: %d missing, %d duplicates", len(got), len(want), missing, dups)
	}
}

func diffRow(w row, g map[string]any) string {
	if g["Device"] != w.Device {
		return fmt.Sprintf("Device %q, want %q", g["Device"], w.Device)
	}
	at, _ := g["At"].(string)
	pt, err := time.Parse(time.RFC3339Nano, at)
	if err != nil || !pt.Equal(w.At) || pt.Location() != time.UTC {
		return fmt.Sprintf("At %q, want %s in UTC", at, w.At.Format(time.RFC3339))
	}
	if v, err := toFloat(g["Value"]); err != nil || v != w.Value {
		return fmt.Sprintf("Value %v, want %v", g["Value"], w.Value)
	}
	if g["Ok"] != w.Ok {
		return fmt.Sprintf("Ok %v, want %v", g["Ok"], w.Ok)
	}
	return ""
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Int64()
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("%v is not an exact integer", x)
		}
		return int64(x), nil
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("type %T", v)
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Float64()
	case float64:
		return x, nil
	}
	return 0, fmt.Errorf("type %T", v)
}

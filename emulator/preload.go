package emulator

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// preloadEpoch is the first DateTime value of synthetic preloaded rows.
var preloadEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Preload stores n synthetic rows in a table of any workspace, as if they had been pushed
// earlier: no rate limit applies and no POST is counted, but the rows count toward the table's
// size (so 250,000 rows in a retention-None table switch its dataset to the hourly POST
// limit), basicFIFO retention and the retention-None cap. Row i holds, per column type: Int64
// i, Double i+0.5, Decimal i, Boolean i%2==0, DateTime 2026-01-01T00:00:00Z plus i seconds,
// String "row i".
func (s *Server) Preload(datasetID, table string, n int) error {
	return s.preload(datasetID, table, n, nil)
}

// AppendRows stores rows in a table of any workspace like Preload, after checking (and
// converting) them with the POST rows value rules.
func (s *Server) AppendRows(datasetID, table string, rows []map[string]any) error {
	raws := make([]json.RawMessage, len(rows))
	for i, r := range rows {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
		raws[i] = b
	}
	return s.preload(datasetID, table, len(rows), raws)
}

func (s *Server) preload(datasetID, table string, n int, raws []json.RawMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d *dataset
	for _, x := range s.datasets {
		if x.id == datasetID {
			d = x
		}
	}
	if d == nil || d.table(table) == nil {
		return fmt.Errorf("preload: no table %q in dataset %q", table, datasetID)
	}
	t := d.table(table)
	rows := make([][]byte, n)
	if raws == nil {
		for i := range rows {
			rows[i] = syntheticRow(t.columns, i)
		}
	} else {
		rules := rowRules{table: t.name, index: t.index, columns: t.columns, maxString: s.o.MaxStringLen, strict: s.o.StrictTypes}
		if aerr := rules.checkRows(raws); aerr != nil {
			return fmt.Errorf("preload: %s", aerr.msg)
		}
		for i, r := range raws {
			rows[i] = r
		}
	}
	keep := 0
	if d.retention == RetentionBasicFIFO {
		keep = s.o.FIFORows
	} else if t.count()+n > s.o.MaxTableRows {
		return fmt.Errorf("preload: table %q would exceed %d rows", t.name, s.o.MaxTableRows)
	}
	t.append(rows, keep)
	t.preloaded += int64(n)
	return nil
}

// syntheticRow is row i of Preload.
func syntheticRow(cols []Column, i int) []byte {
	b := []byte{'{'}
	for k, c := range cols {
		if k > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, c.Name)
		b = append(b, ':')
		switch c.DataType {
		case "Int64", "Decimal":
			b = strconv.AppendInt(b, int64(i), 10)
		case "Double":
			b = strconv.AppendFloat(b, float64(i)+0.5, 'f', -1, 64)
		case "Boolean":
			b = strconv.AppendBool(b, i%2 == 0)
		case "DateTime":
			b = strconv.AppendQuote(b, preloadEpoch.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
		default:
			b = strconv.AppendQuote(b, "row "+strconv.Itoa(i))
		}
	}
	return append(b, '}')
}

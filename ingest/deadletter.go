package ingest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// Dead-letter source formats (spool.DeadLetter.Format).
const (
	DeadJSON = "json" // one JSON object (JSON lines, Kafka, HTTP)
	DeadCSV  = "csv"  // one CSV record, read with the dead letter's header
)

// sourceFormat is the format a record's raw input is kept in as a dead letter.
func sourceFormat(r Record) (string, []string) {
	if r.Header != nil {
		return DeadCSV, r.Header
	}
	return DeadJSON, nil
}

// DecodeDeadLetter decodes the raw input of a source-format dead letter back into its fields,
// with the same checks as the source's decoder (so a replay fails exactly where reading did).
func DecodeDeadLetter(format string, header []string, data []byte) (map[string]any, error) {
	switch format {
	case DeadJSON:
		if err := checkJSONText(data, 0); err != nil {
			return nil, err
		}
		return parseObject(data)
	case DeadCSV:
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		if err := w.Write(header); err != nil {
			return nil, fmt.Errorf("csv header: %w", err)
		}
		w.Flush()
		b.Write(data)
		b.WriteByte('\n')
		dec, err := NewDecoder("csv", &b, DecoderOptions{})
		if err != nil {
			return nil, err
		}
		rec, err := dec.Next()
		switch {
		case errors.Is(err, io.EOF):
			return nil, errors.New("empty CSV record")
		case err != nil:
			return nil, err
		case rec.Err != nil:
			return nil, rec.Err
		}
		return rec.Fields, nil
	}
	return nil, fmt.Errorf("unknown dead-letter format %q", format)
}

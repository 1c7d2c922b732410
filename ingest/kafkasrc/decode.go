package kafkasrc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/segmentio/kafka-go"

	"github.com/pbi-pusher/pbi-pusher/ingest"
)

// decodeMessages turns fetched messages into records: one per JSON object, one per element
// of a JSON array. A value that is not JSON, or not valid text, becomes a record with Err set
// and Raw = the bad bytes; objects are decoded by the Writer (Record.Decoded gives their fields
// or error).
func decodeMessages(msgs []kafka.Message) []ingest.Record {
	recs := make([]ingest.Record, 0, len(msgs))
	for i := range msgs {
		recs = appendRecords(recs, msgs[i].Value, msgs[i].Offset)
	}
	return recs
}

func appendRecords(recs []ingest.Record, value []byte, offset int64) []ingest.Record {
	if err := ingest.CheckJSONText(value, 0); err != nil {
		return append(recs, badRecord(value, offset, err))
	}
	trimmed := bytes.TrimLeft(value, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return appendArray(recs, value, offset)
	}
	return append(recs, objectRecord(value, offset))
}

func appendArray(recs []ingest.Record, value []byte, offset int64) []ingest.Record {
	var elems []json.RawMessage
	if err := decodeOne(value, &elems); err != nil {
		return append(recs, badRecord(value, offset, err))
	}
	for _, e := range elems {
		recs = append(recs, objectRecord(e, offset))
	}
	return recs
}

// objectRecord is one JSON object of a value (checked for invalid UTF-8 and lone surrogates),
// left for the Writer to decode (straight into the row when the table allows).
func objectRecord(raw []byte, offset int64) ingest.Record {
	return ingest.DeferJSON(raw, offset, decodeObject)
}

// decodeObject decodes one JSON object; the error is the dead letter's reason.
func decodeObject(raw []byte) (map[string]any, error) {
	var fields map[string]any
	err := decodeOne(raw, &fields)
	if err == nil && fields == nil {
		err = errors.New("not a JSON object")
	}
	if err != nil {
		return nil, fmt.Errorf("kafka value: %w", err)
	}
	return fields, nil
}

func badRecord(raw []byte, offset int64, err error) ingest.Record {
	return ingest.Record{Offset: offset, Raw: raw, Err: fmt.Errorf("kafka value: %w", err)}
}

// decodeOne decodes exactly one JSON value (numbers as json.Number) and rejects trailing data.
func decodeOne(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty value")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: trailing data after the value")
	}
	return nil
}

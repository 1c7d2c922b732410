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
// of a JSON array. Malformed input becomes a record with Err set and Raw = the bad bytes.
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

func objectRecord(raw []byte, offset int64) ingest.Record {
	var fields map[string]any
	err := decodeOne(raw, &fields)
	if err == nil && fields == nil {
		err = errors.New("not a JSON object")
	}
	if err != nil {
		return badRecord(raw, offset, err)
	}
	return ingest.Record{Offset: offset, Fields: fields, Raw: raw}
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

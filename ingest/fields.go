package ingest

import (
	"maps"
	"slices"
)

// FieldNames returns the field names a record was read with: the CSV header, else the JSON
// object's keys (sorted); nil for a record without either (a malformed JSON line). A deferred
// JSON line (DecoderOptions.Deferred) is decoded for it.
func FieldNames(r Record) []string {
	if r.Header != nil {
		return r.Header
	}
	if fields, _ := r.Decoded(); fields != nil {
		return slices.Sorted(maps.Keys(fields))
	}
	return nil
}

// WatchFields returns a decoder that calls check once, with FieldNames of the first record that
// has any (a CSV header, or the first well-formed JSON object) and whether they are a CSV header,
// before that record is returned. An error from check ends the decoding: Next returns it.
func WatchFields(dec Decoder, check func(fields []string, header bool) error) Decoder {
	return &fieldWatcher{dec: dec, check: check}
}

type fieldWatcher struct {
	dec   Decoder
	check func([]string, bool) error
	done  bool
}

func (w *fieldWatcher) Next() (Record, error) {
	rec, err := w.dec.Next()
	if err != nil || w.done {
		return rec, err
	}
	if names := FieldNames(rec); names != nil {
		w.done = true
		if err := w.check(names, rec.Header != nil); err != nil {
			return Record{}, err
		}
	}
	return rec, nil
}

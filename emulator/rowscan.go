package emulator

import (
	"bytes"
	"encoding/json"
)

// rowValue returns the raw value of column in a stored row ("null" when absent). Stored rows
// are JSON objects, so a scan of the top-level keys finds it without decoding the row; a key
// with escapes, or anything unexpected, falls back to encoding/json.
func rowValue(raw []byte, column string) json.RawMessage {
	if v, ok := scanValue(raw, column); ok {
		return v
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m[column] == nil {
		return json.RawMessage("null")
	}
	return m[column]
}

// scanValue looks up key among the top-level keys of the JSON object raw. ok is false when the
// scan cannot decide (escaped keys, malformed input); a missing key is "null", true.
func scanValue(raw []byte, key string) (json.RawMessage, bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, false
	}
	var found json.RawMessage
	for i = skipSpace(raw, i+1); i < len(raw) && raw[i] != '}'; {
		k, next, ok := scanKey(raw, i)
		if !ok {
			return nil, false
		}
		start := skipSpace(raw, next)
		end, ok := skipValue(raw, start)
		if !ok {
			return nil, false
		}
		if k == key {
			found = raw[start:end] // the last duplicate wins, as in encoding/json
		}
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	if i >= len(raw) {
		return nil, false
	}
	if found == nil {
		return json.RawMessage("null"), true
	}
	return found, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanKey reads `"key" :` at i and returns the key and the index after the colon.
func scanKey(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	end := bytes.IndexByte(b[i+1:], '"')
	if end < 0 || bytes.IndexByte(b[i+1:i+1+end], '\\') >= 0 {
		return "", 0, false // escaped keys go the slow way
	}
	k := string(b[i+1 : i+1+end])
	j := skipSpace(b, i+2+end)
	if j >= len(b) || b[j] != ':' {
		return "", 0, false
	}
	return k, j + 1, true
}

// skipValue returns the index after the JSON value at i.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := skipString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i // a number, true, false or null
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && skipSpace(b, j) == j {
		j++
	}
	return j, j > i
}

// skipString returns the index after the string starting at i.
func skipString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

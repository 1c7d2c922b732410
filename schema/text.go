package schema

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/pbi-pusher/pbi-pusher/config"
)

func appendString(dst []byte, v any, truncate bool) ([]byte, error) {
	s, err := stringOf(v)
	if err != nil {
		return nil, err
	}
	if n := utf16Len(s); n > config.MaxStringLen {
		if !truncate {
			return nil, fmt.Errorf("string of %d characters exceeds Power BI's %d (on_long_string: reject)", n, config.MaxStringLen)
		}
		s = cutUTF16(s, config.MaxStringLen)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode string: %w", err)
	}
	return append(dst, b...), nil
}

// stringOf renders v as text (see the package doc).
func stringOf(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return string(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return "", fmt.Errorf("encode %s: %w", describe(v), err)
		}
		return string(b), nil
	}
	if s, ok := numText(v); ok {
		return s, nil
	}
	return "", fmt.Errorf("cannot use %T as String", v)
}

// utf16Len counts s in UTF-16 code units, as the service (.NET) counts characters.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// cutUTF16 returns the longest prefix of s of at most max UTF-16 code units, whole runes only.
func cutUTF16(s string, max int) string {
	n := 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n+w > max {
			return s[:i]
		}
		n += w
	}
	return s
}

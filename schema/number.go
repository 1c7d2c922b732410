package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// isNumberText reports whether s is a decimal number as JSON writes it, plus a leading "+" and
// the "5." and ".5" forms: [+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,4})? with ASCII digits. The
// exponent is limited to 4 digits so big.Rat never builds enormous values. Hand-written: a
// regular expression here cost a quarter of the ingest CPU.
func isNumberText(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && isDigit(s[i]); i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && isDigit(s[i]); i++ {
			exp++
		}
		if exp < 1 || exp > 4 {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// smallInt parses s when it is an optional sign and 1 to 18 digits: such a value always fits
// an Int64 and is never its minimum or maximum, so big.Rat is not needed.
func smallInt(s string) (int64, bool) {
	d := s
	if d != "" && (d[0] == '+' || d[0] == '-') {
		d = d[1:]
	}
	if len(d) < 1 || len(d) > 18 {
		return 0, false
	}
	for i := 0; i < len(d); i++ {
		if !isDigit(d[i]) {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// numText returns the text of a numeric value: json.Number, numeric string, or a Go number
// (from a YAML default). ok is false for anything else.
func numText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return string(x), true
	case string:
		return strings.TrimSpace(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	}
	return "", false
}

// parseRat parses a numeric value exactly.
func parseRat(v any) (*big.Rat, error) {
	s, ok := numText(v)
	if !ok {
		return nil, fmt.Errorf("cannot use %s as a number", describe(v))
	}
	if !isNumberText(s) {
		return nil, fmt.Errorf("%s is not a number", describe(v))
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%s is not a number", describe(v))
	}
	return r, nil
}

func appendInt64(dst []byte, v any) ([]byte, error) {
	if s, ok := numText(v); ok {
		if n, ok := smallInt(s); ok {
			return strconv.AppendInt(dst, n, 10), nil
		}
	}
	r, err := parseRat(v)
	if err != nil {
		return nil, err
	}
	if !r.IsInt() {
		return nil, fmt.Errorf("%s is not an integer (Int64)", describe(v))
	}
	n := r.Num()
	if !n.IsInt64() || n.Int64() == math.MaxInt64 || n.Int64() == math.MinInt64 {
		return nil, fmt.Errorf("%s is out of Int64 range (its minimum and maximum are not allowed)", describe(v))
	}
	return strconv.AppendInt(dst, n.Int64(), 10), nil
}

func appendDouble(dst []byte, v any) ([]byte, error) {
	s, ok := numText(v)
	if !ok {
		return nil, fmt.Errorf("cannot use %s as a number", describe(v))
	}
	out, res := appendDoubleText(dst, s)
	switch res {
	case numNotNumber:
		return nil, fmt.Errorf("%s is not a number (NaN and Inf are not allowed)", describe(v))
	case numOutOfRange:
		return nil, fmt.Errorf("%s is out of Double range", describe(v))
	}
	return out, nil
}

// numResult is the outcome of coercing a number's text.
type numResult int

const (
	numOK numResult = iota
	numNotNumber
	numOutOfRange
)

// appendDoubleText appends the Double whose text is s; the caller turns a failure into an error
// naming the value.
func appendDoubleText(dst []byte, s string) ([]byte, numResult) {
	if !isNumberText(s) {
		return dst, numNotNumber
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) == math.MaxFloat64 {
		return dst, numOutOfRange
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64), numOK
}

// decimalLimit is 10^24: precision 28 with scale 4 leaves 24 integer digits.
var decimalLimit = new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(24), nil))

func appendDecimal(dst []byte, v any) ([]byte, error) {
	r, err := parseRat(v)
	if err != nil {
		return nil, err
	}
	s := roundScale4(r)
	rounded, _ := new(big.Rat).SetString(s)
	if rounded.Abs(rounded).Cmp(decimalLimit) >= 0 {
		return nil, fmt.Errorf("%s exceeds Decimal precision (28 digits, 4 after the point)", describe(v))
	}
	return append(dst, s...), nil
}

// roundScale4 formats r rounded half away from zero to 4 decimal places, trailing zeros trimmed.
func roundScale4(r *big.Rat) string {
	s := r.FloatString(4) // FloatString rounds half away from zero
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

func appendBool(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case bool:
		return strconv.AppendBool(dst, x), nil
	case string, json.Number:
		switch strings.ToLower(strings.TrimSpace(fmt.Sprint(x))) {
		case "true", "t", "yes", "y", "1":
			return append(dst, "true"...), nil
		case "false", "f", "no", "n", "0":
			return append(dst, "false"...), nil
		}
	case int:
		if x == 0 || x == 1 {
			return strconv.AppendBool(dst, x == 1), nil
		}
	case float64:
		if x == 0 || x == 1 {
			return strconv.AppendBool(dst, x == 1), nil
		}
	}
	return nil, fmt.Errorf("cannot use %s as Boolean (want true/false, yes/no, 1/0)", describe(v))
}

// describe quotes a value briefly for an error message.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(clip(x))
	case json.Number:
		return clip(string(x))
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case bool:
		return strconv.FormatBool(x)
	}
	return clip(fmt.Sprint(v))
}

func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

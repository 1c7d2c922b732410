package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// numberText matches a decimal number as JSON writes it, plus a leading "+" and a bare "." form;
// the exponent is limited to 4 digits so big.Rat never builds enormous values.
var numberText = regexp.MustCompile(`^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?$`)

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
	if !numberText.MatchString(s) {
		return nil, fmt.Errorf("%s is not a number", describe(v))
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%s is not a number", describe(v))
	}
	return r, nil
}

func appendInt64(dst []byte, v any) ([]byte, error) {
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
	if !numberText.MatchString(s) {
		return nil, fmt.Errorf("%s is not a number (NaN and Inf are not allowed)", describe(v))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) == math.MaxFloat64 {
		return nil, fmt.Errorf("%s is out of Double range", describe(v))
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
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

package schema

import (
	"regexp"
	"strconv"
	"testing"
)

// numberRE is the grammar isNumberText implements, as a regular expression (the former code).
var numberRE = regexp.MustCompile(`^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?$`)

var numberSeeds = []string{"", "0", "-0", "+1", "1.", ".5", ".", "+.", "-.e1", "1e", "1e+", "1e12345", "1e1234",
	"1.5E-3", "١", "12a", " 1", "1 ", "9223372036854775807", "123456789012345678", "-123456789012345678",
	"0001", "+-1", "1.2.3", "e5", "5e5.1", "1_000"}

// The hand-written matcher accepts exactly the regular expression's language.
func TestIsNumberTextMatchesGrammar(t *testing.T) {
	for _, s := range numberSeeds {
		if got, want := isNumberText(s), numberRE.MatchString(s); got != want {
			t.Errorf("isNumberText(%q) = %v, the grammar says %v", s, got, want)
		}
	}
}

func FuzzIsNumberText(f *testing.F) {
	for _, s := range numberSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isNumberText(s), numberRE.MatchString(s); got != want {
			t.Fatalf("isNumberText(%q) = %v, the grammar says %v", s, got, want)
		}
		// The Int64 fast path gives what the exact path gives.
		if n, ok := smallInt(s); ok {
			r, err := parseRat(s)
			if err != nil || !r.IsInt() || r.Num().Int64() != n {
				t.Fatalf("smallInt(%q) = %d; exact parse %v, %v", s, n, r, err)
			}
			if strconv.FormatInt(n, 10) != r.Num().String() {
				t.Fatalf("smallInt(%q) = %d, exact %s", s, n, r.Num())
			}
		}
	})
}

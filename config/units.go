package config

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML accepts a Go duration string such as "1s", "250ms" or "1h30m".
// A bare number is rejected (the unit is required), except 0.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "want a duration such as \"1s\" or \"250ms\"")
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return typeError(n, fmt.Sprintf("invalid duration %q (want e.g. \"1s\", \"250ms\")", clip(n.Value)))
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Int64 returns b as an int64.
func (b ByteSize) Int64() int64 { return int64(b) }

// byteUnits maps lower-case unit suffixes to their multiplier.
var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1000, "kb": 1000, "m": 1000 * 1000, "mb": 1000 * 1000,
	"g": 1000 * 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"t": 1000 * 1000 * 1000 * 1000, "tb": 1000 * 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseByteSize parses an integer byte count or a number with a unit: B, KB, MB, GB, TB
// (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024); case-insensitive, optional space,
// fractions allowed ("1.5GiB") and rounded down to whole bytes.
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := byteUnits[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("invalid size %q (want e.g. 1048576, \"512MB\", \"10GiB\")", clip(s))
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("invalid size %q (want e.g. 1048576, \"512MB\", \"10GiB\")", clip(s))
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	v := new(big.Int).Quo(r.Num(), r.Denom())
	if !v.IsInt64() || v.Int64() > math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", clip(s))
	}
	return ByteSize(v.Int64()), nil
}

// UnmarshalYAML accepts an integer byte count or a size such as "512MB" or "10GiB".
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "want a size such as 1048576 or \"10GiB\"")
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return typeError(n, err.Error())
	}
	*b = v
	return nil
}

// typeError reports a bad scalar the way yaml.v3 does, so decoding goes on and the line is kept.
func typeError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

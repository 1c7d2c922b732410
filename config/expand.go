package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// lookupFunc returns an environment variable (os.LookupEnv in Load and Parse).
type lookupFunc func(string) (string, bool)

// expandNode expands ${VAR} references in every scalar value under n (mapping keys are left
// alone). Expanded text is never parsed as YAML again, so a value containing ": " or "#" stays one
// string. A plain (unquoted, untagged) scalar is re-resolved after expansion, so port: ${PORT}
// still decodes into an int. Errors name the file, line and variable, never a value.
func expandNode(file string, n *yaml.Node, env lookupFunc) []error {
	var errs []error
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			errs = append(errs, expandNode(file, c, env)...)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			errs = append(errs, expandNode(file, n.Content[i], env)...)
		}
	case yaml.ScalarNode:
		errs = append(errs, expandScalar(file, n, env)...)
	}
	return errs
}

func expandScalar(file string, n *yaml.Node, env lookupFunc) []error {
	if !strings.Contains(n.Value, "$") {
		return nil
	}
	v, errs := Expand(n.Value, env)
	for i, e := range errs {
		errs[i] = fmt.Errorf("%s:%d: %w", file, n.Line, e)
	}
	if len(errs) > 0 || v == n.Value {
		return errs
	}
	n.Value = v
	if n.Style == 0 {
		n.Tag = "" // re-resolve: ${PORT} → !!int; but keep text that reads as null a string
		if n.ShortTag() == "!!null" {
			n.Tag = "!!str"
		}
	}
	return nil
}

// Expand replaces ${VAR} with the variable's value and ${VAR:-default} with the value or, when
// the variable is unset or empty, default. $$ is a literal $; a $ not followed by { or $ is kept.
// An unset variable without a default is an error naming the variable (never a value).
func Expand(s string, env func(string) (string, bool)) (string, []error) {
	var b strings.Builder
	var errs []error
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c != '$' || i+1 == len(s):
			b.WriteByte(c)
		case s[i+1] == '$':
			b.WriteByte('$')
			i++
		case s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return s, append(errs, fmt.Errorf("unterminated ${ (write $$ for a literal $)"))
			}
			val, err := expandRef(s[i+2:i+2+end], env)
			if err != nil {
				errs = append(errs, err)
			}
			b.WriteString(val)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), errs
}

// expandRef resolves the inside of one ${...}.
func expandRef(ref string, env func(string) (string, bool)) (string, error) {
	name, def, hasDef := strings.Cut(ref, ":-")
	if !validVarName(name) {
		return "", fmt.Errorf("invalid variable name in ${%s}", clip(name))
	}
	v, ok := env(name)
	if hasDef && v == "" {
		return def, nil
	}
	if !ok {
		return "", fmt.Errorf("environment variable %s is not set (use ${%s:-default} for a default)", name, name)
	}
	return v, nil
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

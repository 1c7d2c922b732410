package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadWith is Load with validation options (see ValidateOptions).
func LoadWith(path string, opts ValidateOptions) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, data, os.LookupEnv, opts)
}

// Load reads path strictly (unknown keys are errors naming file:line), expands ${VAR} from the
// environment in scalar values, applies defaults and runs Validate. Errors name the file and line.
func Load(path string) (*Config, error) {
	return LoadWith(path, ValidateOptions{})
}

// Parse is Load for bytes already read; name is used in error messages.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, os.LookupEnv, ValidateOptions{})
}

func parse(name string, data []byte, env lookupFunc, opts ValidateOptions) (*Config, error) {
	c, err := decode(name, data, env)
	if c == nil {
		return nil, err // a syntax error: nothing else can be checked
	}
	// Semantic checks run on what did decode, so one pass reports syntax, unknown keys, types
	// and values together.
	c.ApplyDefaults()
	if verr := c.ValidateWith(opts); verr != nil || err != nil {
		return nil, joinSorted(dropNil(err, withoutLines(verr, errLines(err))))
	}
	return c, nil
}

// errLines returns the lines a joined error's messages name.
func errLines(err error) map[int]bool {
	lines := map[int]bool{}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			lines[lineOf(e)] = true
		}
	} else if err != nil {
		lines[lineOf(err)] = true
	}
	return lines
}

// withoutLines drops the problems of a joined error on lines that already failed to decode (a
// value that did not decode is also "missing" to Validate: one message per mistake is enough).
func withoutLines(err error, lines map[int]bool) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	var keep []error
	for _, e := range j.Unwrap() {
		if l := lineOf(e); l == 0 || !lines[l] {
			keep = append(keep, e)
		}
	}
	return errors.Join(keep...)
}

func dropNil(errs ...error) []error {
	out := errs[:0]
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// decode turns data into a Config: parse, expand, check keys, decode. It reports every problem
// it can find in one joined error, sorted by line, and returns what did decode (nil only for a
// YAML syntax error) so that Validate can check it too.
func decode(name string, data []byte, env lookupFunc) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fileErrors(name, err, nil)
	}
	errs := expandNode(name, &root, env)
	w := walker{file: name, lines: lineMap{}}
	w.walk(&root, reflect.TypeFor[Config](), "")
	errs = append(errs, w.errs...)
	c := &Config{}
	if root.Kind != 0 {
		if err := root.Decode(c); err != nil {
			errs = append(errs, fileErrors(name, err, w.lines))
		}
	}
	c.File, c.lines = name, w.lines
	if len(errs) > 0 {
		return c, joinSorted(errs)
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// fileErrors rewrites yaml.v3's "line N: msg" errors as "FILE:N: KEY.PATH: msg" (the key path
// when lines names exactly one key on that line).
func fileErrors(name string, err error, lines lineMap) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return errors.New(relabel(name, err.Error(), lines))
	}
	errs := make([]error, len(te.Errors))
	for i, m := range te.Errors {
		errs[i] = errors.New(relabel(name, m, lines))
	}
	return errors.Join(errs...)
}

// yamlTypeErr matches yaml.v3's "cannot unmarshal !!str `x` into int" (which names Go types).
var yamlTypeErr = regexp.MustCompile("cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")

// friendly rewrites a yaml.v3 type error in the config's terms.
func friendly(msg string) string {
	m := yamlTypeErr.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg
	}
	kind, val, into := msg[m[2]:m[3]], "", msg[m[6]:m[7]]
	if m[4] >= 0 {
		val = " " + strconv.Quote(msg[m[4]:m[5]])
	}
	want := "a value of another kind"
	switch {
	case strings.HasPrefix(into, "[]"):
		want = "a list"
	case strings.HasPrefix(into, "map["), strings.HasPrefix(into, "config."), strings.HasPrefix(into, "*config."):
		want = "a mapping"
	case strings.HasPrefix(into, "int"), strings.HasPrefix(into, "uint"):
		want = "an integer"
	case strings.HasPrefix(into, "float"):
		want = "a number"
	case into == "bool":
		want = "true or false"
	case into == "string":
		want = "a string"
	}
	got := map[string]string{"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
		"map": "a mapping", "seq": "a list", "null": "null"}[kind]
	if got == "" {
		got = "!!" + kind
	}
	return msg[:m[0]] + "want " + want + ", got " + got + val
}

func relabel(name, msg string, lines lineMap) string {
	msg = friendly(msg)
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return name + ": " + strings.TrimPrefix(msg, "yaml: ")
	}
	line, _ := strconv.Atoi(m[1])
	if path := lines.leafAt(line); path != "" {
		return fmt.Sprintf("%s:%d: %s: %s", name, line, path, msg[len(m[0]):])
	}
	return fmt.Sprintf("%s:%d: %s", name, line, msg[len(m[0]):])
}

var fileLine = regexp.MustCompile(`^[^\n]*?:(\d+): `)

// joinSorted flattens errs and joins them ordered by the line number in their message.
func joinSorted(errs []error) error {
	var flat []error
	for _, e := range errs {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			flat = append(flat, j.Unwrap()...)
		} else {
			flat = append(flat, e)
		}
	}
	sort.SliceStable(flat, func(i, j int) bool { return lineOf(flat[i]) < lineOf(flat[j]) })
	return errors.Join(flat...)
}

func lineOf(err error) int {
	m := fileLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

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
	if err != nil {
		return nil, err
	}
	c.ApplyDefaults()
	if err := c.ValidateWith(opts); err != nil {
		return nil, err
	}
	return c, nil
}

// decode turns data into a Config: parse, expand, check keys, decode. It reports every problem
// it can find in one joined error, sorted by line.
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
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	c.File, c.lines = name, w.lines
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

func relabel(name, msg string, lines lineMap) string {
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

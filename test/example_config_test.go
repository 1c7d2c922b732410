package e2e

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// TestConfigExampleLoadsAndDocumentsEveryKey loads config.example.yaml through the real loader and
// checks that every key of the config types appears in it with a comment nearby.
func TestConfigExampleLoadsAndDocumentsEveryKey(t *testing.T) {
	cfg, err := config.Load("../config.example.yaml")
	if err != nil {
		t.Fatalf("config.example.yaml does not load: %v", err)
	}
	if len(cfg.Datasets) == 0 || len(cfg.Sources) < 4 {
		t.Fatalf("example lost its datasets or sources: %d datasets, %d sources", len(cfg.Datasets), len(cfg.Sources))
	}
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, key := range yamlKeys(reflect.TypeFor[config.Config]()) {
		re := regexp.MustCompile(`(?m)(^|[\s{,])` + regexp.QuoteMeta(key) + `:`)
		if !re.MatchString(text) {
			t.Errorf("config.example.yaml does not document key %q", key)
		}
	}
}

// yamlKeys lists every yaml key reachable from t.
func yamlKeys(t reflect.Type) []string {
	seen := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			seen[name] = true
			walk(f.Type)
		}
	}
	walk(t)
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	return keys
}

package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	yamlv3 "gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestManifestsMatchTheKubernetesSchema decodes every object of the manifests strictly into the
// Kubernetes API's own Go types (k8s.io/api): an unknown or misplaced field, or a value of the
// wrong type, fails. (kubeconform installs from the module proxy, but its JSON schemas are
// downloaded from GitHub, which this machine cannot reach; the API types are the same schema.)
func TestManifestsMatchTheKubernetesSchema(t *testing.T) {
	types := map[string]func() any{
		"ServiceAccount":        func() any { return &corev1.ServiceAccount{} },
		"ConfigMap":             func() any { return &corev1.ConfigMap{} },
		"PersistentVolumeClaim": func() any { return &corev1.PersistentVolumeClaim{} },
		"Service":               func() any { return &corev1.Service{} },
		"Deployment":            func() any { return &appsv1.Deployment{} },
		"StatefulSet":           func() any { return &appsv1.StatefulSet{} },
	}
	for _, file := range []string{"../deploy/kubernetes/sidecar.yaml", "../deploy/kubernetes/statefulset.yaml"} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs := splitYAML(t, raw)
		if len(docs) < 4 {
			t.Fatalf("%s: %d objects", file, len(docs))
		}
		for _, doc := range docs {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			mk, ok := types[head.Kind]
			if !ok {
				t.Errorf("%s: kind %q is not checked", file, head.Kind)
				continue
			}
			obj := mk()
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Errorf("%s: %s: %v", file, head.Kind, err)
			}
			checkNativeSidecar(t, file, obj)
		}
	}
	// The check bites: a field in the wrong place fails.
	bad := []byte("apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  template:\n    spec:\n      containers:\n        - name: x\n          restartPolicyy: Always\n")
	if err := yaml.UnmarshalStrict(bad, &appsv1.StatefulSet{}); err == nil || !strings.Contains(err.Error(), "restartPolicyy") {
		t.Errorf("a misspelt field passed: %v", err)
	}
}

// checkNativeSidecar: in the Deployment, pbi-pusher is an init container that restarts Always.
func checkNativeSidecar(t *testing.T, file string, obj any) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return
	}
	for _, c := range d.Spec.Template.Spec.InitContainers {
		if c.Name == "pbi-pusher" && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return
		}
	}
	t.Errorf("%s: pbi-pusher is not a native sidecar in the typed Deployment", file)
}

// splitYAML returns each document of a multi-document stream as its own YAML.
func splitYAML(t *testing.T, raw []byte) [][]byte {
	t.Helper()
	dec := yamlv3.NewDecoder(bytes.NewReader(raw))
	var out [][]byte
	for {
		var n yamlv3.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := yamlv3.Marshal(&n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

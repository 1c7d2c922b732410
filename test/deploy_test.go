package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/pbi-pusher/pbi-pusher/config"
)

// spoolDir is where the image keeps the spool (a VOLUME) and the manifest mounts the PVC.
const spoolDir = "/var/lib/pbi-pusher"

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// parseDockerfile splits a Dockerfile into instructions (comments and blank lines dropped).
func parseDockerfile(text string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(text, "\n") {
		l := strings.TrimSpace(raw)
		if cur.Len() == 0 && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// stage is one FROM … [AS name] and its instructions.
type stage struct {
	image, name string
	ins         []instruction
}

func stages(ins []instruction) []stage {
	var out []stage
	for _, in := range ins {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			out = append(out, s)
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].ins = append(out[len(out)-1].ins, in)
		}
	}
	return out
}

// lintDockerfile returns the problems of a Dockerfile for pbi-pusher's image.
func lintDockerfile(text string) []string {
	ss := stages(parseDockerfile(text))
	if len(ss) < 2 {
		return []string{"not a multi-stage build"}
	}
	var p []string
	p = append(p, lintBases(ss)...)
	p = append(p, lintBuild(ss[:len(ss)-1])...)
	p = append(p, lintFinal(ss[len(ss)-1])...)
	return p
}

var (
	pinnedTag = regexp.MustCompile(`^[^:@]+(:[\w][\w.-]*)?(@sha256:[0-9a-f]{64})?$`)
	urlArg    = regexp.MustCompile(`https?://`)
	fromStage = regexp.MustCompile(`--from=(\S+)`)
)

func lintBases(ss []stage) []string {
	var p []string
	names := map[string]bool{}
	for i, s := range ss {
		if i < len(ss)-1 && s.name == "" {
			p = append(p, fmt.Sprintf("build stage %d (%s) has no AS name", i, s.image))
		}
		switch {
		case s.image == "scratch" || names[s.image]:
		case !pinnedTag.MatchString(s.image) || !strings.ContainsAny(s.image, ":@"):
			p = append(p, fmt.Sprintf("base image %s is not pinned to a tag or digest", s.image))
		case strings.HasSuffix(s.image, ":latest"):
			p = append(p, fmt.Sprintf("base image %s uses :latest", s.image))
		}
		names[s.name] = true
		for _, in := range s.ins {
			if in.cmd == "ADD" && urlArg.MatchString(in.args) {
				p = append(p, fmt.Sprintf("line %d: ADD of a URL (download in a RUN with a checksum instead)", in.line))
			}
			if m := fromStage.FindStringSubmatch(in.args); m != nil && !names[m[1]] {
				p = append(p, fmt.Sprintf("line %d: COPY --from=%s names no earlier stage", in.line, m[1]))
			}
		}
	}
	return p
}

func lintBuild(ss []stage) []string {
	for _, s := range ss {
		for _, in := range s.ins {
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				var p []string
				for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "./cmd/pbi-pusher"} {
					if !strings.Contains(in.args, want) {
						p = append(p, fmt.Sprintf("line %d: go build lacks %s", in.line, want))
					}
				}
				return p
			}
		}
	}
	return []string{"no build stage runs go build"}
}

func lintFinal(s stage) []string {
	var p []string
	if s.image != "scratch" && !strings.HasPrefix(s.image, "gcr.io/distroless/static") {
		p = append(p, fmt.Sprintf("final image %s is neither scratch nor distroless/static", s.image))
	}
	last := map[string]instruction{}
	volumes := ""
	for _, in := range s.ins {
		last[in.cmd] = in
		if in.cmd == "VOLUME" {
			volumes += " " + in.args
		}
	}
	if u, ok := last["USER"]; !ok || isRoot(u.args) {
		p = append(p, "final stage does not switch to a non-root USER")
	}
	if !strings.Contains(volumes, spoolDir) {
		p = append(p, "no VOLUME for the spool "+spoolDir)
	}
	// The default spool.path is relative: the working directory must be the spool volume.
	if w := strings.Trim(last["WORKDIR"].args, `"`); w != spoolDir || path.Join(w, config.DefaultSpoolPath) != path.Join(spoolDir, path.Base(config.DefaultSpoolPath)) {
		p = append(p, fmt.Sprintf("WORKDIR is %q, want %s so that the default spool.path %s is on the volume", w, spoolDir, config.DefaultSpoolPath))
	}
	p = append(p, execForm(last, "ENTRYPOINT", []string{"/pbi-pusher"})...)
	p = append(p, execForm(last, "CMD", []string{"run", "-config", "/etc/pbi-pusher/config.yaml"})...)
	for _, port := range []string{"9464", "8089"} {
		if !slices.Contains(strings.Fields(last["EXPOSE"].args), port) {
			p = append(p, "EXPOSE lacks "+port)
		}
	}
	return p
}

func isRoot(user string) bool {
	u, _, _ := strings.Cut(strings.TrimSpace(user), ":")
	return u == "" || u == "root" || u == "0"
}

// execForm checks that instruction cmd is a JSON array equal to want.
func execForm(last map[string]instruction, cmd string, want []string) []string {
	var got []string
	if err := json.Unmarshal([]byte(last[cmd].args), &got); err != nil {
		return []string{cmd + " is not in exec (JSON array) form"}
	}
	if !slices.Equal(got, want) {
		return []string{fmt.Sprintf("%s is %q, want %q", cmd, got, want)}
	}
	return nil
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	good := string(raw)
	tests := []struct {
		name, from, to, want string // want "" = no problems
	}{
		{name: "the repository's Dockerfile"},
		{"single stage", "FROM golang:1.26-bookworm AS build", "", "multi-stage"},
		{"latest builder", "golang:1.26-bookworm", "golang:latest", ":latest"},
		{"untagged final", "gcr.io/distroless/static-debian12:nonroot", "gcr.io/distroless/static-debian12", "not pinned"},
		{"root user", "USER 65532:65532", "USER root", "non-root USER"},
		{"cgo", "CGO_ENABLED=0", "CGO_ENABLED=1", "CGO_ENABLED=0"},
		{"shell entrypoint", `ENTRYPOINT ["/pbi-pusher"]`, "ENTRYPOINT /pbi-pusher", "exec (JSON array) form"},
		{"no volume", `VOLUME ["/var/lib/pbi-pusher"]`, "", "VOLUME"},
		{"no workdir", "WORKDIR /var/lib/pbi-pusher\n", "", "WORKDIR"},
		{"workdir elsewhere", "WORKDIR /var/lib/pbi-pusher\n", "WORKDIR /app\n", "WORKDIR"},
		{"ADD url", "COPY go.mod go.sum ./", "ADD https://example.com/x.tgz /x\nCOPY go.mod go.sum ./", "ADD of a URL"},
		{"unnamed stage copy", "--from=build /out/pbi-pusher", "--from=builder /out/pbi-pusher", "names no earlier stage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := good
			if tc.from != "" {
				if !strings.Contains(text, tc.from) {
					t.Fatalf("Dockerfile no longer contains %q; update the test", tc.from)
				}
				text = strings.Replace(text, tc.from, tc.to, 1)
			}
			problems := strings.Join(lintDockerfile(text), "\n")
			if (tc.want == "") != (problems == "") || !strings.Contains(problems, tc.want) {
				t.Errorf("problems:\n%s\nwant: %q", problems, tc.want)
			}
		})
	}
}

// k8s is the part of a Kubernetes object the manifest checks read.
type k8s struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		ClusterIP   string `yaml:"clusterIP"`
		ServiceName string `yaml:"serviceName"`
		Replicas    *int   `yaml:"replicas"`
		Template    struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				AccessModes []string `yaml:"accessModes"`
			} `yaml:"spec"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type podSpec struct {
	ServiceAccountName     string      `yaml:"serviceAccountName"`
	TerminationGracePeriod int         `yaml:"terminationGracePeriodSeconds"`
	SecurityContext        secContext  `yaml:"securityContext"`
	InitContainers         []container `yaml:"initContainers"`
	Containers             []container `yaml:"containers"`
	Volumes                []struct {
		Name string `yaml:"name"`
		PVC  *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	} `yaml:"volumes"`
}

type secContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type probe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"`
	} `yaml:"httpGet"`
}

type container struct {
	Name          string   `yaml:"name"`
	Image         string   `yaml:"image"`
	RestartPolicy string   `yaml:"restartPolicy"`
	Args          []string `yaml:"args"`
	Env           []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Startup         *probe     `yaml:"startupProbe"`
	Liveness        *probe     `yaml:"livenessProbe"`
	Readiness       *probe     `yaml:"readinessProbe"`
	SecurityContext secContext `yaml:"securityContext"`
	Resources       struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

// decodeManifest reads every document of a multi-document YAML stream.
func decodeManifest(data []byte) ([]k8s, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []k8s
	for {
		var o k8s
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
}

// manifest indexes the decoded objects by kind (each manifest has one of each) and names the
// kind of its workload.
type manifest struct {
	objs     map[string]k8s
	workload string // Deployment or StatefulSet
}

func (m manifest) pod() podSpec { return m.objs[m.workload].Spec.Template.Spec }

// pusher finds the pbi-pusher container; init says whether it is an init container.
func (m manifest) pusher() (c container, init, ok bool) {
	for _, c := range m.pod().InitContainers {
		if c.Name == "pbi-pusher" {
			return c, true, true
		}
	}
	for _, c := range m.pod().Containers {
		if c.Name == "pbi-pusher" {
			return c, false, true
		}
	}
	return container{}, false, false
}

// deployKind is what a manifest must be: the sidecar (a Deployment with pbi-pusher as a native
// sidecar beside a producer, HTTP ingest on loopback, a PVC) or the standalone daemon (a
// StatefulSet with volumeClaimTemplates reading Kafka).
type deployKind int

const (
	sidecarKind deployKind = iota
	statefulKind
)

// lintManifest returns the problems of a manifest. It sets the container's environment with
// setenv so that the embedded config expands as in the pod.
func lintManifest(kind deployKind, data []byte, setenv func(k, v string)) []string {
	objs, err := decodeManifest(data)
	if err != nil {
		return []string{"YAML: " + err.Error()}
	}
	m := manifest{objs: map[string]k8s{}, workload: "Deployment"}
	if kind == statefulKind {
		m.workload = "StatefulSet"
	}
	for _, o := range objs {
		m.objs[o.Kind] = o
	}
	kinds := []string{"ServiceAccount", "ConfigMap", m.workload}
	if kind == sidecarKind {
		kinds = append(kinds, "PersistentVolumeClaim")
	} else {
		kinds = append(kinds, "Service")
	}
	for _, k := range kinds {
		if _, ok := m.objs[k]; !ok {
			return []string{"no " + k}
		}
	}
	c, init, ok := m.pusher()
	if !ok {
		return []string{"no pbi-pusher container"}
	}
	for _, e := range c.Env {
		setenv(e.Name, e.Value)
	}
	cfg, err := config.Parse("ConfigMap config.yaml", []byte(m.objs["ConfigMap"].Data["config.yaml"]))
	if err != nil {
		return []string{"embedded config: " + err.Error()}
	}
	var p []string
	p = append(p, lintIdentity(m, cfg)...)
	p = append(p, lintProbes(c, cfg)...)
	p = append(p, lintSecurity(m, c)...)
	p = append(p, lintConfigMount(m, c)...)
	if kind == sidecarKind {
		p = append(p, lintSidecar(m, c, init, cfg)...)
	} else {
		p = append(p, lintStatefulSet(m, c, init, cfg)...)
	}
	if path.Dir(cfg.Spool.Path) != spoolDir {
		p = append(p, "spool.path "+cfg.Spool.Path+" is not in "+spoolDir)
	}
	return p
}

// lintSidecar checks the native sidecar: pbi-pusher is an init container with restartPolicy:
// Always (started before the producer, stopped after it), gated by a /readyz startup probe, with
// the spool on the PVC and HTTP ingest on the pod's loopback.
func lintSidecar(m manifest, c container, init bool, cfg *config.Config) []string {
	var p []string
	if !init || c.RestartPolicy != "Always" {
		p = append(p, "pbi-pusher is not a native sidecar (an initContainer with restartPolicy: Always)")
	}
	if c.Startup == nil || c.Startup.HTTPGet == nil || c.Startup.HTTPGet.Path != "/readyz" {
		p = append(p, "the sidecar's startupProbe is not /readyz: the producer could start before pbi-pusher is ready")
	}
	producers := 0
	for _, o := range m.pod().Containers {
		if o.Name != "pbi-pusher" {
			producers++
		}
	}
	if producers == 0 {
		p = append(p, "no producer container beside the sidecar")
	}
	pvc := false
	for _, v := range m.pod().Volumes {
		pvc = pvc || (v.PVC != nil && v.PVC.ClaimName == m.objs["PersistentVolumeClaim"].Metadata.Name && mountOf(c, spoolDir) == v.Name)
	}
	if !pvc {
		p = append(p, "the PVC is not mounted at "+spoolDir)
	}
	if src := cfg.Sources; len(src) != 1 || src[0].Type != "http" || src[0].Listen != "127.0.0.1:8089" {
		p = append(p, "the config's only source is not HTTP ingest on 127.0.0.1:8089")
	}
	return p
}

// lintStatefulSet checks the standalone daemon: an ordinary container, its spool on a claim from
// volumeClaimTemplates, a headless governing Service.
func lintStatefulSet(m manifest, c container, init bool, cfg *config.Config) []string {
	var p []string
	ss := m.objs["StatefulSet"]
	if init {
		p = append(p, "the standalone daemon is an init container")
	}
	claim := false
	for _, v := range ss.Spec.VolumeClaimTemplates {
		claim = claim || (v.Metadata.Name == mountOf(c, spoolDir) && slices.Contains(v.Spec.AccessModes, "ReadWriteOnce"))
	}
	if !claim {
		p = append(p, "no ReadWriteOnce volumeClaimTemplate is mounted at "+spoolDir)
	}
	for _, v := range ss.Spec.Template.Spec.Volumes {
		if v.Name == mountOf(c, spoolDir) {
			p = append(p, "the spool mount names a pod volume, not the volumeClaimTemplate")
		}
	}
	svc := m.objs["Service"]
	if ss.Spec.ServiceName != svc.Metadata.Name || svc.Spec.ClusterIP != "None" {
		p = append(p, "serviceName does not name a headless Service")
	}
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas < 1 {
		p = append(p, "replicas is not set")
	}
	if len(cfg.Sources) == 0 || cfg.Sources[0].Type != "kafka" {
		p = append(p, "the standalone daemon's config does not read Kafka")
	}
	return p
}

func mountOf(c container, dir string) string {
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == dir {
			return vm.Name
		}
	}
	return ""
}

func lintIdentity(m manifest, cfg *config.Config) []string {
	var p []string
	sa := m.objs["ServiceAccount"]
	pod := m.objs[m.workload].Spec.Template
	if sa.Metadata.Annotations["azure.workload.identity/client-id"] == "" {
		p = append(p, "service account lacks the azure.workload.identity/client-id annotation")
	}
	if pod.Spec.ServiceAccountName != sa.Metadata.Name {
		p = append(p, "pod does not use the annotated service account")
	}
	if pod.Metadata.Labels["azure.workload.identity/use"] != "true" {
		p = append(p, `pod lacks the label azure.workload.identity/use: "true"`)
	}
	if cfg.Auth.Method != "workload_identity" {
		p = append(p, "auth.method is not workload_identity")
	}
	return p
}

func lintProbes(c container, cfg *config.Config) []string {
	_, adminPort, err := net.SplitHostPort(cfg.Admin.Listen)
	host, _, _ := net.SplitHostPort(cfg.Admin.Listen)
	if err != nil || host == "127.0.0.1" || host == "localhost" {
		return []string{"admin.listen " + cfg.Admin.Listen + " is not reachable by the kubelet"}
	}
	var p []string
	for _, pr := range []struct {
		name, path string
		probe      *probe
	}{{"liveness", "/healthz", c.Liveness}, {"readiness", "/readyz", c.Readiness}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			p = append(p, "no HTTP "+pr.name+" probe")
			continue
		}
		if pr.probe.HTTPGet.Path != pr.path || portOf(c, pr.probe.HTTPGet.Port.Value) != adminPort {
			p = append(p, fmt.Sprintf("%s probe is %s on port %s, want %s on the admin port %s", pr.name,
				pr.probe.HTTPGet.Path, pr.probe.HTTPGet.Port.Value, pr.path, adminPort))
		}
	}
	return p
}

// portOf resolves a probe port (number or container port name) to a number.
func portOf(c container, port string) string {
	for _, cp := range c.Ports {
		if cp.Name == port {
			return fmt.Sprint(cp.ContainerPort)
		}
	}
	return port
}

func lintConfigMount(m manifest, c container) []string {
	cm := false
	for _, v := range m.pod().Volumes {
		cm = cm || (v.ConfigMap != nil && v.ConfigMap.Name == m.objs["ConfigMap"].Metadata.Name && mountOf(c, "/etc/pbi-pusher") == v.Name)
	}
	if !cm || !slices.Contains(c.Args, "/etc/pbi-pusher/config.yaml") {
		return []string{"the ConfigMap is not mounted at /etc/pbi-pusher and passed with -config"}
	}
	return nil
}

func lintSecurity(m manifest, c container) []string {
	var p []string
	pod := m.pod()
	sc := c.SecurityContext
	if !isTrue(sc.RunAsNonRoot) && !isTrue(pod.SecurityContext.RunAsNonRoot) {
		p = append(p, "runAsNonRoot is not set")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p = append(p, "root filesystem not read-only or privilege escalation allowed")
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		p = append(p, "capabilities do not drop ALL")
	}
	if len(c.Resources.Requests) == 0 || c.Resources.Limits["memory"] == "" {
		p = append(p, "no resource requests or memory limit")
	}
	if pod.TerminationGracePeriod <= 20 {
		p = append(p, "terminationGracePeriodSeconds does not exceed shutdown_timeout")
	}
	return p
}

func isTrue(b *bool) bool { return b != nil && *b }

// manifestCase mutates a good manifest (from → to) and expects a problem containing want.
type manifestCase struct {
	name, from, to, want string // want "" = no problems
}

func runManifestCases(t *testing.T, kind deployKind, file string, tests []manifestCase) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	good := string(raw)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := good
			if tc.from != "" {
				if !strings.Contains(text, tc.from) {
					t.Fatalf("manifest no longer contains %q; update the test", tc.from)
				}
				text = strings.Replace(text, tc.from, tc.to, 1)
			}
			problems := strings.Join(lintManifest(kind, []byte(text), t.Setenv), "\n")
			if (tc.want == "") != (problems == "") || !strings.Contains(problems, tc.want) {
				t.Errorf("problems:\n%s\nwant: %q", problems, tc.want)
			}
		})
	}
}

func TestKubernetesSidecarManifest(t *testing.T) {
	runManifestCases(t, sidecarKind, "../deploy/kubernetes/sidecar.yaml", []manifestCase{
		{name: "the repository's manifest"},
		{"readiness on the wrong path", "path: /readyz, port: admin}\n            periodSeconds: 5", "path: /ready, port: admin}\n            periodSeconds: 5", "readiness probe"},
		{"liveness on another port", "{path: /healthz, port: admin}\n            periodSeconds: 10", "{path: /healthz, port: 8089}\n            periodSeconds: 10", "liveness probe"},
		{"admin on loopback", "listen: 0.0.0.0:9464", "listen: 127.0.0.1:9464", "not reachable"},
		{"no workload identity label", `azure.workload.identity/use: "true"`, `azure.workload.identity/use: "false"`, "azure.workload.identity/use"},
		{"spool not on the PVC", "mountPath: /var/lib/pbi-pusher", "mountPath: /data", "PVC is not mounted"},
		{"writable root", "readOnlyRootFilesystem: true\n            capabilities:\n              drop: [ALL]\n          resources:\n            requests: {cpu: 100m",
			"readOnlyRootFilesystem: false\n            capabilities:\n              drop: [ALL]\n          resources:\n            requests: {cpu: 100m", "read-only"},
		{"broken embedded config", "method: workload_identity", "method: magic", "embedded config"},
		{"not YAML", "kind: ConfigMap", "kind: [ConfigMap", "YAML"},
		{"init container that does not restart", "          restartPolicy: Always\n", "", "native sidecar"},
		{"startup on /healthz", "{path: /readyz, port: admin}\n            periodSeconds: 2", "{path: /healthz, port: admin}\n            periodSeconds: 2", "startupProbe"},
	})
}

func TestKubernetesStatefulSetManifest(t *testing.T) {
	runManifestCases(t, statefulKind, "../deploy/kubernetes/statefulset.yaml", []manifestCase{
		{name: "the repository's manifest"},
		{"a Deployment", "kind: StatefulSet", "kind: Deployment", "no StatefulSet"},
		{"no claim template", "  volumeClaimTemplates:\n    - metadata:\n        name: spool", "  volumeClaimTemplates:\n    - metadata:\n        name: other", "volumeClaimTemplate"},
		{"spool on an emptyDir", "      volumes:\n", "      volumes:\n        - name: spool\n          emptyDir: {}\n", "pod volume"},
		{"not headless", "clusterIP: None", "clusterIP: 10.0.0.1", "headless"},
		{"spool path elsewhere", "path: /var/lib/pbi-pusher/pbi-pusher.db", "path: /tmp/pbi-pusher.db", "spool.path"},
		{"admin on loopback", "listen: 0.0.0.0:9464", "listen: 127.0.0.1:9464", "not reachable"},
		{"readiness missing", "          readinessProbe:\n            httpGet: {path: /readyz, port: admin}\n", "          readinessProbe:\n", "readiness"},
		{"root", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot"},
	})
}

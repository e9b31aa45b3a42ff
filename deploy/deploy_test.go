// Package deploy holds the container image definition and Kubernetes example of `kernel serve`;
// this test checks them against the server: the flags exist, the probes are served, the ports
// and the grace period agree. (The image is not built and the manifests are not applied here.)
package deploy

import (
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/execfeed/execfeed/sandbox/serve"
)

// checkFlags checks that args are flags of `kernel serve` (serve.Main declares the same flags
// and stops at -h after parsing them) and returns their values by name.
func checkFlags(t *testing.T, where string, args []string) map[string]string {
	t.Helper()
	if err := serve.Main(append(slices.Clone(args), "-h")); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("%s: args %q rejected by kernel serve: %v", where, args, err)
	}
	vals := map[string]string{}
	for i := 0; i+1 < len(args); i += 2 {
		vals[strings.TrimLeft(args[i], "-")] = args[i+1]
	}
	return vals
}

func duration(t *testing.T, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestKubernetes(t *testing.T) {
	f, err := os.Open("kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type port struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Port          int    `yaml:"port"`
		TargetPort    string `yaml:"targetPort"`
	}
	type probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	type doc struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Ports    []port `yaml:"ports"`
			Template struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					Grace      int `yaml:"terminationGracePeriodSeconds"`
					Containers []struct {
						Args            []string       `yaml:"args"`
						Ports           []port         `yaml:"ports"`
						ReadinessProbe  probe          `yaml:"readinessProbe"`
						LivenessProbe   probe          `yaml:"livenessProbe"`
						SecurityContext map[string]any `yaml:"securityContext"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(f)
	var docs []doc
	for {
		var d doc
		if err := dec.Decode(&d); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("kubernetes.yaml: %v", err)
		}
		docs = append(docs, d)
	}
	kinds := []string{}
	for _, d := range docs {
		kinds = append(kinds, d.Kind)
	}
	if !slices.Equal(kinds, []string{"Deployment", "Service", "Service"}) {
		t.Fatalf("kinds %v", kinds)
	}
	dep := docs[0].Spec
	if len(dep.Template.Spec.Containers) != 1 {
		t.Fatal("want one container")
	}
	for k, v := range dep.Selector.MatchLabels {
		if dep.Template.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod labels", k, v)
		}
	}
	c := dep.Template.Spec.Containers[0]
	vals := checkFlags(t, "kubernetes.yaml", c.Args)
	if g, need := time.Duration(dep.Template.Spec.Grace)*time.Second, duration(t, vals["drain-delay"])+duration(t, vals["drain-timeout"]); g <= need {
		t.Errorf("terminationGracePeriodSeconds %v does not cover drain-delay + drain-timeout %v", g, need)
	}
	if len(c.Ports) != 1 || ":"+itoa(c.Ports[0].ContainerPort) != vals["addr"] {
		t.Errorf("container port %+v vs --addr %s", c.Ports, vals["addr"])
	}
	h := serve.New(serve.Config{}, nil).Handler()
	for _, p := range []probe{c.ReadinessProbe, c.LivenessProbe} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.HTTPGet.Path, nil))
		if rec.Code != http.StatusOK || p.HTTPGet.Port != c.Ports[0].Name {
			t.Errorf("probe %+v: status %d", p, rec.Code)
		}
	}
	caps, _ := c.SecurityContext["capabilities"].(map[string]any)
	if add, _ := caps["add"].([]any); !slices.Contains(add, any("SYS_ADMIN")) {
		t.Errorf("the pod lacks CAP_SYS_ADMIN (namespaces, mounts): %v", caps)
	}
	for _, svc := range docs[1:] {
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != c.Ports[0].Name {
			t.Errorf("service ports %+v do not target the container's %q", svc.Spec.Ports, c.Ports[0].Name)
		}
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	if !strings.Contains(df, "go build -trimpath -o /out/kernel ./kernel") {
		t.Error("Dockerfile does not build ./kernel")
	}
	if src, err := os.ReadFile("../kernel/serve.go"); err != nil || !strings.Contains(string(src), "serve.Declare(") {
		t.Errorf("kernel/serve.go does not declare serve's flags (serve.Declare): %v", err)
	}
	entry := regexp.MustCompile(`(?m)^ENTRYPOINT \[(.*)\]$`).FindStringSubmatch(df)
	cmd := regexp.MustCompile(`(?m)^CMD \[(.*)\]$`).FindStringSubmatch(df)
	if entry == nil || cmd == nil || !strings.HasSuffix(entry[1], `"serve"`) {
		t.Fatalf("ENTRYPOINT/CMD: %q %q", entry, cmd)
	}
	var args []string
	for _, a := range strings.Split(cmd[1], ",") {
		args = append(args, strings.Trim(strings.TrimSpace(a), `"`))
	}
	vals := checkFlags(t, "Dockerfile CMD", args)
	if !strings.Contains(df, "EXPOSE "+strings.TrimPrefix(vals["addr"], ":")) {
		t.Errorf("EXPOSE does not match --addr %s", vals["addr"])
	}
}

func itoa(n int) string {
	b, _ := yaml.Marshal(n)
	return strings.TrimSpace(string(b))
}

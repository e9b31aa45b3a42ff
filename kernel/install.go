package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/execfeed/execfeed/lib/experiment"
)

// Pinned versions of the notebook tool chain (see docs/NOTEBOOKS.md).
const (
	gonbModule      = "github.com/janpfeifer/gonb"
	gonbVersion     = "v0.11.5"
	goimportsPkg    = "golang.org/x/tools/cmd/goimports"
	goimportsVer    = "v0.52.0"
	goplsPkg        = "golang.org/x/tools/gopls"
	goplsVersion    = "v0.20.0"
	kernelName      = "gonb"
	jupyterAdvice   = "install Jupyter first: on Debian/Ubuntu `sudo apt-get install jupyter-nbconvert jupyter-client jupyter-notebook`; on macOS `brew install jupyterlab` (or `python3 -m pip install jupyter`); see docs/NOTEBOOKS.md"
	installExamples = "kernel install [-backend xla:/abs/pjrt_plugin.so] [-gopls] [-force]"
)

func init() {
	register(command{name: "install", summary: "install the pinned GoNB Jupyter kernel, goimports and the kernel spec", run: runInstall})
}

func runInstall(args []string) error {
	c := newCLI("install")
	backend := c.string("backend", "", nil, "GOMLX_BACKEND for notebooks (default $GOMLX_BACKEND; empty: the pure-Go CPU backend); xla:... needs a kernel built with -tags xla, and notebook cells %goflags -tags=xla")
	gopls := c.bool("gopls", "also install gopls "+goplsVersion+" (auto-complete in the browser; not needed headless)")
	force := c.bool("force", "reinstall the tools even when the pinned versions are present")
	check := c.bool("check", "only report what is installed; change nothing")
	if err := parseOrHelp(c, args, func(w io.Writer) {
		fmt.Fprintf(w, "usage: %s\n\nInstalls GoNB %s and goimports %s into $(go env GOPATH)/bin (skipped when\nalready there at that version), registers the %q Jupyter kernel and puts the project's\nenvironment (GOTOOLCHAIN, GOEXPERIMENT, GOMLX_BACKEND, PATH) into its kernel spec.\n\n", installExamples, gonbVersion, goimportsVer, kernelName)
		c.printDefaults(w)
	}); err != nil {
		return err
	}
	if !c.set("backend") {
		*backend = os.Getenv("GOMLX_BACKEND")
	}
	if err := experiment.CheckBackend(*backend); err != nil {
		return fmt.Errorf("-backend: %w", err)
	}
	jupyter, err := exec.LookPath("jupyter")
	if err != nil {
		return fmt.Errorf("jupyter not found on PATH: %s", jupyterAdvice)
	}
	if err := exec.Command(jupyter, "kernelspec", "--version").Run(); err != nil {
		return fmt.Errorf("%s kernelspec does not run (jupyter-client missing?): %s", jupyter, jupyterAdvice)
	}
	bin, err := goBin()
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Printf("install: "+format+"\n", a...) }
	logf("jupyter: %s", jupyter)

	type tool struct{ name, module, pkg, version string }
	tools := []tool{
		{"goimports", "golang.org/x/tools", goimportsPkg, goimportsVer},
		{"gonb", gonbModule, gonbModule, gonbVersion},
	}
	if *gopls {
		tools = append(tools, tool{"gopls", "golang.org/x/tools/gopls", goplsPkg, goplsVersion})
	}
	for _, t := range tools {
		path := filepath.Join(bin, t.name+exeSuffix())
		have := binaryVersion(path, t.module)
		if have == t.version && !*force {
			logf("%s %s already installed at %s", t.name, have, path)
			continue
		}
		if *check {
			logf("%s: want %s, have %q", t.name, t.version, have)
			continue
		}
		logf("installing %s %s (have %q)", t.name, t.version, have)
		if err := goInstall(t.pkg, t.version); err != nil {
			return fmt.Errorf("installing %s: %w", t.name, err)
		}
	}
	if *check {
		return checkKernelSpec(jupyter)
	}

	// Register the kernel. --force_deps: gopls is optional for headless runs; --raw_error: full
	// compiler errors in cell outputs (readable CI logs).
	gonb := filepath.Join(bin, "gonb"+exeSuffix())
	cmd := exec.Command(gonb, "--install", "--force_deps", "--raw_error")
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("gonb --install: %w\n%s", err, out)
	}
	dir, err := kernelSpecDir(jupyter)
	if err != nil {
		return err
	}
	env := kernelEnv(bin, *backend)
	if err := patchKernelSpec(filepath.Join(dir, "kernel.json"), env); err != nil {
		return err
	}
	logf("kernel %q registered in %s with env %v", kernelName, dir, env)
	return checkKernelSpec(jupyter)
}

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// goBin is where go install puts binaries: GOBIN, else GOPATH/bin.
func goBin() (string, error) {
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w (is Go on PATH?)", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) >= 1 && strings.TrimSpace(lines[0]) != "" {
		return strings.TrimSpace(lines[0]), nil
	}
	if len(lines) < 2 || strings.TrimSpace(lines[1]) == "" {
		return "", errors.New("go env GOPATH is empty")
	}
	gopath := filepath.SplitList(strings.TrimSpace(lines[1]))[0]
	return filepath.Join(gopath, "bin"), nil
}

// binaryVersion returns the version of module mod that built the binary at path ("" if the
// binary is missing or was built from another module).
func binaryVersion(path, mod string) string {
	out, err := exec.Command("go", "version", "-m", path).Output()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "mod" || f[0] == "dep") && f[1] == mod {
			return f[2]
		}
	}
	return ""
}

// goInstall installs pkg@version. GoNB must be installed through a throwaway module (go get
// -tool, then go install tool): `go install pkg@version` fails for it against a proxy that
// serves only exactly named versions. The same route works for every tool, so it is used for all.
func goInstall(pkg, version string) error {
	tmp, err := os.MkdirTemp("", "execfeed-tools-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	run := func(args ...string) error {
		cmd := exec.Command("go", args...)
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, buf.String())
		}
		return nil
	}
	if err := run("mod", "init", "execfeedtools"); err != nil {
		return err
	}
	if err := run("get", "-tool", pkg+"@"+version); err != nil {
		return err
	}
	return run("install", "tool")
}

// kernelEnv is the environment notebooks run with. PATH starts with the tools' directory and
// keeps the caller's PATH, without the per-version toolchain directories `go run` prepends
// (GOTOOLCHAIN=auto picks the toolchain go.mod asks for anyway).
func kernelEnv(bin, backend string) map[string]string {
	path := []string{bin}
	if goExe, err := exec.LookPath("go"); err == nil {
		path = append(path, filepath.Dir(goExe))
	}
	path = append(path, filepath.SplitList(os.Getenv("PATH"))...)
	seen := map[string]bool{}
	kept := path[:0]
	for _, p := range path {
		if p == "" || seen[p] || strings.Contains(filepath.ToSlash(p), "/golang.org/toolchain@") {
			continue
		}
		seen[p] = true
		kept = append(kept, p)
	}
	env := map[string]string{
		"GOTOOLCHAIN":  "auto",
		"GOEXPERIMENT": "simd",
		"PATH":         strings.Join(kept, string(os.PathListSeparator)),
	}
	if backend != "" {
		env["GOMLX_BACKEND"] = backend
	}
	return env
}

// kernelSpecDir finds the gonb kernel spec's directory with `jupyter kernelspec list --json`.
func kernelSpecDir(jupyter string) (string, error) {
	out, err := exec.Command(jupyter, "kernelspec", "list", "--json").Output()
	if err != nil {
		return "", fmt.Errorf("jupyter kernelspec list: %w", err)
	}
	var specs struct {
		Kernelspecs map[string]struct {
			ResourceDir string `json:"resource_dir"`
		} `json:"kernelspecs"`
	}
	if err := json.Unmarshal(out, &specs); err != nil {
		return "", fmt.Errorf("jupyter kernelspec list --json: %w", err)
	}
	k, ok := specs.Kernelspecs[kernelName]
	if !ok {
		return "", fmt.Errorf("kernel %q is not registered (run `go run ./kernel install`)", kernelName)
	}
	return k.ResourceDir, nil
}

// patchKernelSpec merges env into the "env" map of a kernel.json, keeping everything else.
func patchKernelSpec(path string, env map[string]string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	m, _ := spec["env"].(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	for k, v := range env {
		m[k] = v
	}
	spec["env"] = m
	out, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(out, '\n'), 0o644)
}

// checkKernelSpec reports the gonb kernel spec, or an error if it is missing.
func checkKernelSpec(jupyter string) error {
	dir, err := kernelSpecDir(jupyter)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		return err
	}
	fmt.Printf("install: kernel spec %s/kernel.json:\n%s", dir, b)
	return nil
}

package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gomlx/compute"
)

// What a results file records besides its numbers, so that a reader can tell how they were made
// and `kernel run --from results.json` can make them again: the command line, the build (commit and
// module versions), the hardware, the date, whether the run was a quick one, and every resolved
// setting (the experiment's configuration, the model's, and each method's).

// Build is what the program was built from.
type Build struct {
	// Revision is the commit (from the binary's build info; from git in the source tree the
	// program was compiled from when the build info has none, as under `go run`), Modified
	// whether the tree had uncommitted changes, Source where the two came from ("buildinfo",
	// "git" or ""). Stale says that git's answer may not be the binary's: the binary was built
	// before that commit was made (a binary built earlier and run later, on a machine that builds
	// without VCS stamps), so Revision is the tree's head when the run started, not the code that
	// ran.
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Source   string `json:"source,omitempty"`
	Stale    bool   `json:"revision_may_be_stale,omitempty"`
	Go       string `json:"go"`
	// Settings are the build settings that change numbers or speed (GOEXPERIMENT, tags, GOARCH...).
	Settings map[string]string `json:"settings,omitempty"`
	// Modules are the versions of the modules compiled in.
	Modules map[string]string `json:"modules,omitempty"`
}

// Provenance is the header every results file starts with.
type Provenance struct {
	Experiment string   `json:"experiment"`
	Quick      bool     `json:"quick"`
	Complete   bool     `json:"complete"` // false while methods are still running
	Date       string   `json:"date"`     // RFC 3339, UTC, when the run started
	Hardware   string   `json:"hardware"`
	Command    []string `json:"command,omitempty"`
	Build      Build    `json:"build"`
}

// ReadBuild describes the running binary from runtime/debug.ReadBuildInfo, with the commit from
// git when the build info has none.
func ReadBuild() Build {
	b := Build{Settings: map[string]string{}, Modules: map[string]string{}}
	info, ok := debug.ReadBuildInfo()
	if ok {
		b.Go = info.GoVersion
		for _, d := range info.Deps {
			v := d.Version
			if d.Replace != nil {
				v += " => " + d.Replace.Path + " " + d.Replace.Version
			}
			b.Modules[d.Path] = v
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision, b.Source = s.Value, "buildinfo"
			case "vcs.modified":
				b.Modified = s.Value == "true"
			case "GOEXPERIMENT", "-tags", "GOARCH", "GOOS", "GOAMD64", "CGO_ENABLED":
				b.Settings[s.Key] = s.Value
			}
		}
	}
	if b.Revision == "" {
		// No VCS stamp (go run, -buildvcs=false): ask git about the tree this file was compiled
		// from, when it is still there.
		_, file, _, _ := runtime.Caller(0)
		dir := filepath.Dir(file)
		if out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output(); err == nil {
			b.Revision, b.Source = strings.TrimSpace(string(out)), "git"
			b.Modified = exec.Command("git", "-C", dir, "diff", "--quiet", "HEAD", "--").Run() != nil
			if exe, err := os.Executable(); err == nil {
				b.Stale = builtBeforeHead(exe, dir)
			}
		}
	}
	return b
}

// builtBeforeHead reports whether the executable file exe is older than the commit time of the
// head of the git tree at dir: then the commit git names is not the one it was built from.
func builtBeforeHead(exe, dir string) bool {
	st, err := os.Stat(exe)
	if err != nil {
		return false
	}
	out, err := exec.Command("git", "-C", dir, "log", "-1", "--format=%ct", "HEAD").Output()
	if err != nil {
		return false
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	return err == nil && st.ModTime().Before(time.Unix(sec, 0))
}

// newProvenance is the header of a run of experiment that starts now.
func newProvenance(experiment string, quick bool, command []string) Provenance {
	return Provenance{Experiment: experiment, Quick: quick, Date: time.Now().UTC().Format(time.RFC3339),
		Hardware: Hardware(), Command: command, Build: ReadBuild()}
}

// Settings flattens a configuration struct into a JSON object with snake_case keys (ClipEps ->
// clip_eps, KLBeta -> kl_beta), enums by name (their String method), nested structs as objects
// and lists of structs as lists; functions, which have no value to record, are left out.
func Settings(v any) map[string]any {
	out, _ := settingsOf(reflect.ValueOf(v)).(map[string]any)
	return out
}

func settingsOf(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if s, ok := v.Interface().(fmt.Stringer); ok && v.Kind() != reflect.Struct {
		return s.String()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return settingsOf(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Type.Kind() == reflect.Func || f.Tag.Get("json") == "-" {
				continue
			}
			if x := settingsOf(v.Field(i)); x != nil {
				m[SnakeCase(f.Name)] = x
			}
		}
		return m
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil
		}
		l := make([]any, v.Len())
		for i := range l {
			l[i] = settingsOf(v.Index(i))
		}
		return l
	case reflect.Func, reflect.Chan:
		return nil
	case reflect.Float32: // the shortest decimal of the float32, not its float64 expansion
		f, _ := strconv.ParseFloat(strconv.FormatFloat(v.Float(), 'g', -1, 32), 64)
		return f
	}
	return v.Interface()
}

// SnakeCase turns a Go field name into a snake_case key: SFTSize -> sft_size, KLBeta -> kl_beta,
// EGCA -> egca, CEEvery -> ce_every.
func SnakeCase(name string) string {
	r := []rune(name)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]) ||
			(i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// CheckOutDir makes dir and checks that a file can be written there, before any training: a
// run must not find out at its end that it cannot save its results.
func CheckOutDir(dir string) error {
	if dir == "" {
		return errors.New("no output folder")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	f, err := os.CreateTemp(dir, ".writable-*")
	if err != nil {
		return fmt.Errorf("output folder %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// CheckBackend reports whether config names a backend compiled into this program; the error says
// how to build one that has it.
func CheckBackend(config string) error {
	if config == "" {
		config = os.Getenv("GOMLX_BACKEND")
	}
	name, _, _ := strings.Cut(config, ":")
	if name == "" || slices.Contains(compute.List(), name) {
		return nil
	}
	if name == "xla" {
		return fmt.Errorf("backend %q: this program was built without XLA; build it with `-tags xla` "+
			"(e.g. GOTOOLCHAIN=auto GOEXPERIMENT=simd go run -tags xla ./kernel ...; in a notebook, the GoNB cell %%goflags -tags=xla) "+
			"and point GOMLX_BACKEND or --backend at a PJRT plugin file (xla:/abs/path/pjrt_plugin.so)", config)
	}
	return fmt.Errorf("backend %q: unknown backend %q (compiled in: %s)", config, name, strings.Join(compute.List(), ", "))
}

// ResultsHeader is the part of any results file that says what it holds.
type ResultsHeader struct {
	Provenance
	Config json.RawMessage `json:"config"`
}

// ReadResultsHeader reads the provenance of the results file at path. It is an error when the
// file predates recorded builds (such a file does not hold its whole configuration).
func ReadResultsHeader(path string) (*ResultsHeader, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var h ResultsHeader
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%s: not a results file: %w", path, err)
	}
	if h.Experiment == "" || len(h.Config) == 0 {
		return nil, fmt.Errorf("%s: not a results file (no experiment or config)", path)
	}
	if h.Build.Go == "" {
		return nil, fmt.Errorf("%s: written before results files recorded their build and full configuration; it cannot be rerun exactly", path)
	}
	return &h, nil
}

// LoadDEFResults reads an rpn-def results file (as RunDEF writes it), e.g. in a notebook cell
// after the run cell.
func LoadDEFResults(path string) (*DEFResults, error) {
	var res DEFResults
	if err := loadResults(path, "rpn-def", &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// LoadRLResults reads an RL experiment's results file (as RunRL writes it).
func LoadRLResults(path string) (*RLResults, error) {
	var res RLResults
	if err := loadResults(path, "", &res); err != nil {
		return nil, err
	}
	if !slices.Contains(RLExperiments, res.Experiment) {
		return nil, fmt.Errorf("%s: experiment %q is not an RL experiment (%s)", path, res.Experiment, strings.Join(RLExperiments, ", "))
	}
	return &res, nil
}

func loadResults(path, experiment string, into any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no results at %s yet: run the experiment first (%w)", path, err)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var h Provenance
	_ = json.Unmarshal(b, &h)
	if experiment != "" && h.Experiment != experiment {
		return fmt.Errorf("%s holds experiment %q, not %s", path, h.Experiment, experiment)
	}
	return nil
}

// ResultsPath is dir/results.json.
func ResultsPath(dir string) string { return filepath.Join(dir, "results.json") }

// Rerun runs the experiment recorded in the results file at path again, with the recorded
// configuration, writing to outDir (which must not be the recorded run's folder). It first checks
// that this program resolves the recorded method settings (a changed default would silently run
// another experiment), then runs, and returns the recorded results, the new ones and the
// differences between their numbers (DiffResults; none when the run reproduced).
func Rerun(path, outDir string, log io.Writer) (recorded, rerun any, diffs []string, err error) {
	h, err := ReadResultsHeader(path)
	if err != nil {
		return nil, nil, nil, err
	}
	if outDir == "" {
		return nil, nil, nil, errors.New("rerun: no output folder")
	}
	if abs, _ := filepath.Abs(outDir); abs == absDir(filepath.Dir(path)) {
		return nil, nil, nil, fmt.Errorf("rerun: output folder %s holds the results being rerun; choose another", outDir)
	}
	switch {
	case h.Experiment == "rpn-def":
		old, err := LoadDEFResults(path)
		if err != nil {
			return nil, nil, nil, err
		}
		cfg := old.Config
		cfg.OutDir, cfg.Log, cfg.Command = outDir, log, os.Args
		if err := sameSettings("proxy", old.Proxy, Settings(proxyDefault())); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		res, err := RunDEF(cfg)
		if err != nil {
			return nil, nil, nil, err
		}
		return old, res, DiffResults(old, res), nil
	case slices.Contains(RLExperiments, h.Experiment):
		old, err := LoadRLResults(path)
		if err != nil {
			return nil, nil, nil, err
		}
		cfg := old.Config
		cfg.OutDir, cfg.Log, cfg.Command = outDir, log, os.Args
		if err := sameSettings("methods", old.Methods, RLMethodSettings(cfg)); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		res, err := RunRL(cfg)
		if err != nil {
			return nil, nil, nil, err
		}
		return old, res, DiffResults(old, res), nil
	}
	return nil, nil, nil, fmt.Errorf("%s: unknown experiment %q", path, h.Experiment)
}

func absDir(d string) string {
	a, _ := filepath.Abs(d)
	return a
}

// sameSettings compares recorded settings with the ones this program resolves, as JSON.
func sameSettings(what string, recorded, now any) error {
	a, _ := json.Marshal(recorded)
	b, _ := json.Marshal(now)
	var x, y any
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	if d := diffJSON(what, x, y); len(d) > 0 {
		return fmt.Errorf("this program resolves other %s settings than the recorded run (%s); it cannot rerun it exactly",
			what, strings.Join(d, "; "))
	}
	return nil
}

// timingKeys are the fields of results files that measure time or describe the run rather than
// its numbers; DiffResults ignores them.
var timingKeys = map[string]bool{"seconds": true, "samples_per_second": true, "phase_seconds": true, "ms_per_step": true,
	"proxy_seconds": true, "egca_overhead": true, "date": true, "hardware": true, "command": true, "build": true,
	"out_dir": true, "workers": true, "exec": true}

// DiffResults lists the differences between two results (structs or JSON values) other than
// timings and provenance: "runs[2].test.greedy.exact: 0.5 != 0.52". Empty when they agree.
func DiffResults(a, b any) []string {
	var x, y any
	for _, p := range []struct {
		v    any
		into *any
	}{{a, &x}, {b, &y}} {
		raw, err := json.Marshal(p.v)
		if err != nil {
			return []string{err.Error()}
		}
		_ = json.Unmarshal(raw, p.into)
	}
	return diffJSON("", x, y)
}

func diffJSON(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		var out []string
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if timingKeys[k] || strings.HasPrefix(k, "sec_") {
				continue
			}
			out = append(out, diffJSON(strings.TrimPrefix(path+"."+k, "."), am[k], bm[k])...)
		}
		return out
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		var out []string
		for i := range al {
			out = append(out, diffJSON(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	as, bs := fmt.Sprint(a), fmt.Sprint(b)
	if len(as) > 80 {
		as = as[:80] + "..."
	}
	if len(bs) > 80 {
		bs = bs[:80] + "..."
	}
	return []string{fmt.Sprintf("%s: %s != %s", path, as, bs)}
}

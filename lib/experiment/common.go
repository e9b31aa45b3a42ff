// Package experiment runs the documented experiments end to end - data, models, training,
// evaluation, results JSON and plots - so that the CLI (kernel run NAME) and the notebooks call the
// same code with the same defaults.
package experiment

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/tensors"
)

// Backend returns the compute backend named by config: "" or "go" for the pure-Go CPU backend,
// anything else (e.g. "xla:/abs/path/pjrt_c_api_cuda_plugin.so") through compute.NewWithConfig,
// which needs the matching backend compiled in (`-tags xla`, see README.md "GPU" and
// docs/DEF.md#gpu); a backend that is not is an error saying how to build with it (CheckBackend).
// GOMLX_BACKEND overrides an empty config.
func Backend(config string) (compute.Backend, error) {
	if config == "" {
		config = os.Getenv("GOMLX_BACKEND")
	}
	if err := CheckBackend(config); err != nil {
		return nil, err
	}
	if config == "" || config == "go" {
		return gobackend.New("")
	}
	b, err := compute.NewWithConfig(config)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", config, err)
	}
	return b, nil
}

// Hardware describes the machine for results files: CPU model, cores, OS/arch, Go version.
func Hardware() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				if _, v, ok := strings.Cut(line, ":"); ok {
					model = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s/%s, %s", model, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// WriteJSON writes v, indented, to dir/name, atomically (WriteFileAtomic).
func WriteJSON(dir, name string, v any) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", err
	}
	return path, WriteFileAtomic(path, append(b, '\n'), 0o644)
}

// logf writes a progress line if w is not nil.
func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// since is the seconds elapsed since t, rounded to 0.1 s.
func since(t time.Time) float64 { return float64(time.Since(t).Round(100*time.Millisecond)) / 1e9 }

func tensorsFloat(t *tensors.Tensor) []float64 {
	flat := tensors.MustCopyFlatData[float32](t)
	out := make([]float64, len(flat))
	for i, v := range flat {
		out[i] = float64(v)
	}
	return out
}

//go:build xla

package experiment

// Built with -tags xla, the XLA backend is registered, so Backend("xla:/abs/path/plugin.so")
// (or GOMLX_BACKEND) runs the models on a PJRT plugin (e.g. CUDA). No plugin is downloaded.
import _ "github.com/gomlx/go-xla/compute/xla"

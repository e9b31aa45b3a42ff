//go:build xla

package gpt_test

// Built with -tags xla (the GPU script), the benchmarks can run on $GOMLX_BACKEND=xla:plugin.so.
import _ "github.com/gomlx/go-xla/compute/xla"

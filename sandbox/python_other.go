//go:build !linux

package sandbox

import (
	"context"
	"errors"
)

// PoolConfig configures a Python Pool (Linux only; see python.go).
type PoolConfig struct {
	Workers         int
	Python          string
	Root            string
	HidePaths       []string
	DiskBytes       int64
	BaseUID         int
	NoNamespaces    bool
	NoUserNamespace bool
}

// PoolStats counts what happened in a pool's life.
type PoolStats struct{ Runs, Restarts, Unclean int64 }

// Pool is the Python executor; it needs Linux.
type Pool struct{}

var errNotLinux = errors.New("sandbox: the Python pool needs Linux")

// NewPool fails: the Python pool needs Linux.
func NewPool(PoolConfig) (*Pool, error) { return nil, errNotLinux }

// Run fails: the Python pool needs Linux.
func (p *Pool) Run(context.Context, Program, []Test, Options) (Result, error) {
	return Result{}, errNotLinux
}

// RunBatch fails: the Python pool needs Linux.
func (p *Pool) RunBatch(context.Context, []Job, Options) ([]Result, error) { return nil, errNotLinux }

// Close does nothing.
func (p *Pool) Close() error { return nil }

// Isolation reports nothing.
func (p *Pool) Isolation() Isolation { return Isolation{} }

// Stats reports nothing.
func (p *Pool) Stats() PoolStats { return PoolStats{} }

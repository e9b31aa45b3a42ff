package trainer

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// NewExec is model.NewExec for graphs that read variables which later change (evaluation and
// sampling between training steps).
//
// GoMLX embeds the current value of a variable as a constant in graphs that are not marked as
// training when the backend prefers constants (the Go backend does). Such a graph keeps returning
// results of the weights it was compiled with, however often the weights are updated afterwards.
// NewExec marks its graphs as training so variables stay parameters and every call sees the
// current weights. None of execfeed's models behave differently in training mode.
func NewExec(backend compute.Backend, store *model.Store, name string, fn func(scope *model.Scope, inputs []*graph.Node) []*graph.Node) (*model.Exec, error) {
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		scope.SetTraining(inputs[0].Graph(), true)
		return fn(scope, inputs)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return exec.WithName(name), nil
}

// NewStore makes an empty model.Store whose initialisation and random numbers (Gumbel noise,
// sampling) are drawn deterministically from seed.
func NewStore(seed int64) (*model.Store, error) {
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(seed); err != nil {
		return nil, fmt.Errorf("store seed %d: %w", seed, err)
	}
	store.SetParam(model.ParamInitialSeed, seed)
	return store, nil
}

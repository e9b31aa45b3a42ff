// Package trainer holds the machinery every training method shares: a compiled train step
// (loss -> gradients -> Adam update) over a model.Store, an evaluation call, the backend choice,
// progress reporting and checkpoints. Methods (CE, DEF, REINFORCE, DPO, GRPO, ...) only write
// their loss as a graph function.
package trainer

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// LossFn builds a method's loss from the step's inputs. It returns the scalar loss to minimise
// and optional scalar metrics reported beside it (e.g. the CE and DEF parts of a DEF loss).
type LossFn func(scope *model.Scope, inputs []*graph.Node) (loss *graph.Node, metrics []*graph.Node)

// Step is one compiled optimisation step. Only the variables under the trained scope are updated;
// anything else the loss reads (a frozen proxy, a reference model) stays fixed.
type Step struct {
	Name    string
	exec    *model.Exec
	count   int
	metrics int
}

// NewStep compiles (lazily, on the first Run) a step that minimises lossFn with opt over the
// trainable variables under scope trained of store.
func NewStep(backend compute.Backend, store *model.Store, trained string, opt optimizer.Interface, name string, lossFn LossFn) (*Step, error) {
	s := &Step{Name: name}
	exec, err := model.NewExec(backend, store, func(root *model.Scope, inputs []*graph.Node) []*graph.Node {
		g := inputs[0].Graph()
		root.SetTraining(g, true)
		loss, metrics := lossFn(root, inputs)
		opt.UpdateGraph(root.Store().Scope(trained), g, loss)
		s.metrics = len(metrics)
		return append([]*graph.Node{loss}, metrics...)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.exec = exec
	return s, nil
}

// Run executes one step and returns the loss followed by the metrics. A NaN or infinite loss is
// an error naming the step: nothing silently continues.
func (s *Step) Run(inputs ...any) ([]float64, error) {
	s.count++
	outs, err := s.exec.Call(inputs...)
	if err != nil {
		return nil, fmt.Errorf("%s step %d: %w", s.Name, s.count, err)
	}
	vals := Scalars(outs)
	if math.IsNaN(vals[0]) || math.IsInf(vals[0], 0) {
		return vals, fmt.Errorf("%s step %d: loss is %v (lower the learning rate or check the inputs)", s.Name, s.count, vals[0])
	}
	return vals, nil
}

// Count is the number of steps run.
func (s *Step) Count() int { return s.count }

// Scalars converts scalar float tensors to float64 and frees them.
func Scalars(ts []*tensors.Tensor) []float64 {
	out := make([]float64, len(ts))
	for i, t := range ts {
		switch v := t.Value().(type) {
		case float32:
			out[i] = float64(v)
		case float64:
			out[i] = v
		case int32:
			out[i] = float64(v)
		default:
			out[i] = math.NaN()
		}
		t.FinalizeAll()
	}
	return out
}

package rl

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/execfeed/execfeed/lib/trainer"
)

// LogProber computes teacher-forced token log-probabilities under a policy's current weights,
// outside any train step (e.g. the frozen reference's, for a KL term or DPO). Its graph is
// compiled on first use.
type LogProber struct {
	Policy Policy
	exec   *model.Exec
}

// NewLogProber returns a LogProber for pol.
func NewLogProber(pol Policy) *LogProber { return &LogProber{Policy: pol} }

// Rows returns log π(id_t | id_<t, prompt) [B*T] for token rows ids [B*T] written for prompts.
func (l *LogProber) Rows(prompts []string, ids []int32) ([]float32, error) {
	in, err := l.Policy.Inputs(prompts, ids)
	if err != nil {
		return nil, err
	}
	if l.exec == nil {
		pol := l.Policy
		if l.exec, err = trainer.NewExec(pol.Backend(), pol.Store(), "logprobs", func(root *model.Scope, in []*graph.Node) []*graph.Node {
			return []*graph.Node{pol.TokenLogProbs(root, in)}
		}); err != nil {
			return nil, err
		}
	}
	args := make([]any, len(in))
	for i, t := range in {
		args[i] = t
	}
	res, err := l.exec.Call(args...)
	if err != nil {
		return nil, fmt.Errorf("rl: log-probabilities: %w", err)
	}
	out := tensors.MustCopyFlatData[float32](res[0])
	res[0].FinalizeAll()
	return out, nil
}

// Rollout returns the log-probabilities [B*T] of a rollout's tokens under the LogProber's policy.
func (l *LogProber) Rollout(ro *Rollout) ([]float32, error) {
	return l.Rows(ro.Task.Texts(ro.Rows), ro.Tokens)
}

// tensorArgs turns tensors and further inputs into the arguments of a step's Run.
func tensorArgs(in []*tensors.Tensor, more ...any) []any {
	out := make([]any, 0, len(in)+len(more))
	for _, t := range in {
		out = append(out, t)
	}
	return append(out, more...)
}

package rl

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/trainer"
)

// Supervised fine-tuning (SFT) for any policy: maximise the likelihood of the reference
// completions, token by token (teacher forcing),
//
//	L = -(1/N) Σ_programs Σ_t log π(y_t | y_<t, prompt)
//
// RL methods interleave it to stay near the labelled data (ReinforceConfig.CEEvery); a model
// with its own trainer (the GRU's CEStep, the transformer's) may use that instead.

// NewSFTStep compiles the SFT step of pol with Adam at learning rate lr. Its inputs are the
// policy's (Policy.Inputs) and the mask [B,T] of the target tokens.
func NewSFTStep(pol Policy, lr float64) (*trainer.Step, error) {
	k := pol.NumInputs()
	return trainer.NewStep(pol.Backend(), pol.Store(), pol.TrainedScope(), optimizer.Adam().LearningRate(lr).Done(), "sft",
		func(root *model.Scope, in []*Node) (*Node, []*Node) {
			return Neg(perProgram(pol.TokenLogProbs(root, in), in[k])), nil
		})
}

// RunSFT runs step on the prompts rows of task (at most the batch size), imitating their
// references. A reference the policy cannot encode is an error naming the prompt.
func RunSFT(step *trainer.Step, pol Policy, task *Task, rows []int) ([]float64, error) {
	B, T := pol.BatchSize(), pol.MaxTokens()
	if len(rows) == 0 || len(rows) > B {
		return nil, fmt.Errorf("rl: sft: %d rows for batch size %d", len(rows), B)
	}
	ids, mask, prompts := make([]int32, B*T), make([]float32, B*T), make([]string, B)
	for i := range B {
		r := rows[0]
		if i < len(rows) {
			r = rows[i]
		}
		p := task.Prompts[r]
		prompts[i] = p.Text
		enc, err := pol.Encode(p.Reference)
		if err != nil {
			return nil, fmt.Errorf("rl: sft: task %q prompt %s: %w", task.Name, p.ID, err)
		}
		copy(ids[i*T:(i+1)*T], enc)
		if i < len(rows) {
			for t := range min(len(enc), T) {
				mask[i*T+t] = 1
			}
		}
	}
	in, err := pol.Inputs(prompts, ids)
	if err != nil {
		return nil, err
	}
	return step.Run(tensorArgs(in, tensors.FromFlatDataAndDimensions(mask, B, T))...)
}

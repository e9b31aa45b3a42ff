package gpt_test

import (
	"math"
	"testing"

	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/bpe"
	"github.com/execfeed/execfeed/lib/gpt"
	"github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/lib/trainer"
)

var _ rl.Policy = (*gpt.Policy)(nil)

var (
	descriptions = []string{"add a and b", "multiply a by c", "subtract b from a", "add c and a"}
	programs     = []string{"a b +", "a c *", "a b -", "c a +"}
)

func scratchPolicy(t *testing.T) *gpt.Policy {
	t.Helper()
	tok, err := bpe.Train(append(descriptions, programs...), 280)
	if err != nil {
		t.Fatal(err)
	}
	p, err := gpt.Scratch(gobackend.GetBackend(), gpt.Config{Layers: 2, Heads: 2, Width: 32, Context: 32, Epsilon: 1e-5},
		tok, 11, gpt.PolicyConfig{Batch: 4, PromptLen: 20, MaxTokens: 8, Sep: "\n"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPolicySFTThenGreedy trains the policy on four (description, program) pairs with SFTStep
// and checks that greedy generation then writes exactly those programs.
func TestPolicySFTThenGreedy(t *testing.T) {
	p := scratchPolicy(t)
	step, err := p.SFTStep(optimizer.Adam().LearningRate(3e-3).Done())
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.SFTInputs(descriptions, programs)
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, len(in))
	for i, x := range in {
		args[i] = x
	}
	var first, last float64
	for i := range 80 {
		vals, err := step.Run(args...)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = vals[0]
		}
		last = vals[0]
	}
	ids, lps, lens, err := p.Generate(descriptions, 0)
	if err != nil {
		t.Fatal(err)
	}
	if lps != nil {
		t.Errorf("greedy generation returned log-probs")
	}
	T := p.MaxTokens()
	for r, want := range programs {
		if got := p.Decode(ids[r*T : r*T+lens[r]]); got != want {
			t.Errorf("row %d: greedy %q, want %q (loss %.3f -> %.3f)", r, got, want, first, last)
		}
	}
}

// TestPolicyLogProbsAgree samples at temperature 1 without truncation: the log-probabilities
// Generate returns must be those TokenLogProbs computes for the same rows by teacher forcing.
func TestPolicyLogProbsAgree(t *testing.T) {
	p := scratchPolicy(t)
	ids, lps, lens, err := p.Generate(descriptions[:3], 1)
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.Inputs(descriptions[:3], ids)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := trainer.NewExec(p.Backend(), p.Store(), "lp", func(root *model.Scope, nodes []*Node) []*Node {
		return []*Node{p.TokenLogProbs(root, nodes)}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Call(in[0], in[1], in[2])
	if err != nil {
		t.Fatal(err)
	}
	forced := tensors.MustCopyFlatData[float32](res[0])
	T := p.MaxTokens()
	checked := 0
	for r := range 4 {
		for i := range lens[r] {
			if d := math.Abs(float64(forced[r*T+i] - lps[r*T+i])); d > 1e-4 {
				t.Errorf("row %d token %d: sampled log-prob %g, teacher-forced %g", r, i, lps[r*T+i], forced[r*T+i])
			}
			checked++
		}
	}
	if checked < 8 {
		t.Fatalf("only %d tokens compared", checked)
	}
	if _, err := p.Encode("a b + c * a b + c * a b +"); err == nil {
		t.Errorf("a program longer than MaxTokens encoded without error")
	}
	if got, err := p.Encode("a b +"); err != nil || p.Decode(got) != "a b +" {
		t.Errorf("encode/decode round trip: %v %q", err, p.Decode(got))
	}
}

package rpntask_test

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/reward"
	. "github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/rpntask"
	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/lib/trainer"
)

// sft trains a small generator on a few rpn-ext examples and returns it with a prompt task and a
// held-out task.
func sft(t *testing.T) (*seq2seq.Generator, *Task, *Task) {
	t.Helper()
	split, err := rpn.Generate(rpn.DefaultGenConfig(rpn.Ext))
	if err != nil {
		t.Fatal(err)
	}
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	m := seq2seq.NewModel(seq2seq.DefaultConfig(), rpn.Ext, split.Train)
	lab, err := m.Prepare(split.Train[:300])
	if err != nil {
		t.Fatal(err)
	}
	gen, err := seq2seq.NewGenerator(backend, m, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	step, err := gen.CEStep(optimizer.Adam().LearningRate(3e-3).Done())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 15 {
		if _, err := gen.TrainEpoch(step, lab, rng, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	prompts, err := rpntask.NewTask(rpn.Ext, split.Train[300:1300], rpntask.DefaultTests, 5)
	if err != nil {
		t.Fatal(err)
	}
	held, err := rpntask.NewTask(rpn.Ext, split.Test[:256], rpntask.DefaultTests, 6)
	if err != nil {
		t.Fatal(err)
	}
	return gen, prompts, held
}

// TestCriticAndReinforce checks, on RPN with the GRU policy, the two behaviours seed 004's method rests on, from a weak
// supervised start: the critic predicts held-out samples' outcomes better than the majority class,
// and REINFORCE with the critic raises the held-out pass@1.
func TestCriticAndReinforce(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a generator (about 30 s)")
	}
	gen, prompts, held := sft(t)
	store, err := trainer.NewStore(7)
	if err != nil {
		t.Fatal(err)
	}
	if err := trainer.CopyWeights(store, gen.Store, trainer.WeightsUnder(seq2seq.Scope)); err != nil {
		t.Fatal(err)
	}
	pol := seq2seq.NewPolicy(&seq2seq.Generator{Model: gen.Model, Backend: gen.Backend, Store: store, Batch: gen.Batch},
		rpntask.Language{Dialect: rpn.Ext})
	before, err := Evaluate(pol, held, 4, 1, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultReinforceConfig()
	cfg.Reward, cfg.CriticWarmup = reward.Outcome, 40
	m, err := NewReinforce(cfg, pol, prompts, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	sampler, err := NewPrompts(prompts.Len(), 64, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for it := range 100 {
		if _, err := m.Iterate(sampler.Next()); err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
	}
	rep, err := EvaluateCritic(m.Critic, pol, held)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("critic: accuracy %.3f, majority %.3f, recall %v", rep.Accuracy, rep.Majority, rep.Recall)
	if rep.Accuracy <= rep.Majority+0.02 {
		t.Errorf("critic accuracy %.3f is not above the majority-class rate %.3f", rep.Accuracy, rep.Majority)
	}
	after, err := Evaluate(pol, held, 4, 1, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pass@1 %.3f -> %.3f, greedy functional %.3f -> %.3f", before.PassAtK["pass@1"], after.PassAtK["pass@1"],
		before.Greedy.Functional, after.Greedy.Functional)
	if after.PassAtK["pass@1"] < before.PassAtK["pass@1"]+0.03 {
		t.Errorf("REINFORCE did not raise held-out pass@1: %.3f -> %.3f", before.PassAtK["pass@1"], after.PassAtK["pass@1"])
	}
}

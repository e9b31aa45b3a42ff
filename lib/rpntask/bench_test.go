package rpntask_test

import (
	"testing"

	"github.com/gomlx/compute/gobackend"

	"github.com/execfeed/execfeed/lib/reward"
	. "github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/rpntask"
	"github.com/execfeed/execfeed/lib/seq2seq"
)

// benchMethod times full iterations (sample 64 programs, run them, score them, update) of the
// method build returns, from an untrained generator (programs run to full length: the worst case),
// and reports samples per second and the seconds per iteration spent in each phase.
func benchMethod(b *testing.B, group int, build func(pol, ref Policy, task *Task) (Method, error)) {
	split, err := rpn.Generate(rpn.DefaultGenConfig(rpn.Ext))
	if err != nil {
		b.Fatal(err)
	}
	backend, err := gobackend.New("")
	if err != nil {
		b.Fatal(err)
	}
	m := seq2seq.NewModel(seq2seq.DefaultConfig(), rpn.Ext, split.Train)
	task, err := rpntask.NewTask(rpn.Ext, split.Train[:512], rpntask.DefaultTests, 1)
	if err != nil {
		b.Fatal(err)
	}
	gen := func(seed int64) Policy {
		g, err := seq2seq.NewGenerator(backend, m, 64, seed)
		if err != nil {
			b.Fatal(err)
		}
		return seq2seq.NewPolicy(g, rpntask.Language{Dialect: rpn.Ext})
	}
	meth, err := build(gen(1), gen(1), task)
	if err != nil {
		b.Fatal(err)
	}
	sampler, err := NewPrompts(task.Len(), 64/group, group, 1)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := meth.Iterate(sampler.Next()); err != nil { // compile the graphs
		b.Fatal(err)
	}
	phases := map[string]float64{}
	b.ResetTimer()
	for b.Loop() {
		st, err := meth.Iterate(sampler.Next())
		if err != nil {
			b.Fatal(err)
		}
		for k, v := range st {
			if len(k) > 4 && k[:4] == "sec_" {
				phases[k[4:]] += v
			}
		}
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "samples/s")
	for k, v := range phases {
		b.ReportMetric(1000*v/float64(b.N), k+"-ms/iter")
	}
}

// BenchmarkReinforceCritic is seed 004's iteration: sample, greedy baseline, execute both,
// critic prediction, policy update, critic update.
func BenchmarkReinforceCritic(b *testing.B) {
	benchMethod(b, 1, func(pol, _ Policy, task *Task) (Method, error) {
		cfg := DefaultReinforceConfig()
		cfg.CriticWarmup = 0
		return NewReinforce(cfg, pol, task, nil, 1)
	})
}

// BenchmarkReinforceStruct adds the AST and DFG rewards (eq. 4.8, 4.9) to the execution phase.
func BenchmarkReinforceStruct(b *testing.B) {
	benchMethod(b, 1, func(pol, _ Policy, task *Task) (Method, error) {
		cfg := DefaultReinforceConfig()
		cfg.CriticWarmup = 0
		cfg.Reward = reward.Sum([]float64{1, 0.5, 0.5}, reward.Outcome, reward.AST, reward.DFG)
		return NewReinforce(cfg, pol, task, nil, 1)
	})
}

// BenchmarkGRPO and BenchmarkEGCA give EGCA's overhead over GRPO (seed 003 reports 18 %).
func BenchmarkGRPO(b *testing.B) {
	benchMethod(b, 8, func(pol, ref Policy, task *Task) (Method, error) {
		return NewGRPO(DefaultGRPOConfig(), pol, ref, task)
	})
}

func BenchmarkEGCA(b *testing.B) {
	benchMethod(b, 8, func(pol, ref Policy, task *Task) (Method, error) {
		cfg := DefaultGRPOConfig()
		cfg.EGCA = true
		return NewGRPO(cfg, pol, ref, task)
	})
}

package rl

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/lib/trainer"
	"github.com/execfeed/execfeed/sandbox"
)

// PairRule decides a preference between two programs sampled for the same prompt: > 0 when a is
// preferred, < 0 when b is, 0 when neither (the pair is dropped). Users may replace the rule.
type PairRule func(a, b reward.Sample) int

// TracePreference is seed 001's execution-trace alignment (ETA) rule:
//   - a passing program beats a failing one;
//   - between two failing programs, the one that executes more steps correctly before it fails
//     (reward.Sample.StepsCorrect: its trace agrees with the reference's for longer) wins;
//   - everything else - two passing programs, equal step counts - is a tie, and dropped.
func TracePreference(a, b reward.Sample) int {
	ap, bp := a.Outcome == sandbox.PassedTest, b.Outcome == sandbox.PassedTest
	switch {
	case ap && !bp:
		return 1
	case bp && !ap:
		return -1
	case ap && bp:
		return 0
	}
	return a.StepsCorrect - b.StepsCorrect
}

// Pair is a preference between two rows of a rollout.
type Pair struct{ Chosen, Rejected int }

// Pairs builds the preference pairs of a rollout whose rows come in groups of g samples of one
// prompt: every two rows of a group holding different programs, ordered by rule. Ties are dropped.
// The rollout must be executed (Samples), and g at least 2 and a divisor of its real rows.
func Pairs(ro *Rollout, g int, rule PairRule) ([]Pair, error) {
	switch {
	case rule == nil:
		return nil, fmt.Errorf("rl: pairs: nil rule")
	case ro == nil || ro.N < 1 || len(ro.Samples) < ro.N || len(ro.Programs) < ro.N:
		return nil, fmt.Errorf("rl: pairs: the rollout is not executed (run Execute first)")
	case g < 2 || ro.N%g != 0:
		return nil, fmt.Errorf("rl: pairs: group size %d for %d rows (want g >= 2 dividing them)", g, ro.N)
	}
	var out []Pair
	for lo := 0; lo < ro.N; lo += g {
		hi := min(lo+g, ro.N)
		for i := lo; i < hi; i++ {
			for j := i + 1; j < hi; j++ {
				if ro.Programs[i] == ro.Programs[j] {
					continue
				}
				switch c := rule(ro.Samples[i], ro.Samples[j]); {
				case c > 0:
					out = append(out, Pair{i, j})
				case c < 0:
					out = append(out, Pair{j, i})
				}
			}
		}
	}
	return out, nil
}

// DPOConfig configures ETA-DPO.
type DPOConfig struct {
	// Group is the number of programs sampled per prompt, among which pairs are built.
	Group int
	// Beta is DPO's β: how far the policy may move from the reference.
	Beta        float64
	LR          float64
	Temperature float32
	// Rule builds the preferences (default TracePreference).
	Rule PairRule
}

// DefaultDPOConfig is ETA-DPO with 8 samples per prompt and β = 0.1.
func DefaultDPOConfig() DPOConfig {
	return DPOConfig{Group: 8, Beta: 0.1, LR: 1e-4, Temperature: 1, Rule: TracePreference}
}

// DPO is online direct preference optimisation on execution-trace preferences (seed 001's
// ETA-DPO): every iteration samples Group programs per prompt from the current policy, runs them
// against the prompt's tests with the reference's trace, builds pairs with Cfg.Rule and takes one
// DPO step (DPOLoss) against the frozen SFT reference on up to Batch/2 of them (chosen rows first,
// then the matching rejected rows).
type DPO struct {
	Cfg    DPOConfig
	Policy Policy
	Ref    *LogProber // the frozen SFT policy
	Task   *Task
	step   *trainer.Step
}

// NewDPO prepares the trainer; ref is the frozen SFT policy.
func NewDPO(cfg DPOConfig, pol, ref Policy, task *Task) (*DPO, error) {
	if cfg.Group < 2 || cfg.Beta <= 0 || cfg.LR <= 0 || cfg.Rule == nil || ref == nil || pol.BatchSize()%2 != 0 {
		return nil, fmt.Errorf("rl: dpo: bad config (group %d, beta %g, lr %g, rule set %v, reference set %v, batch %d must be even)",
			cfg.Group, cfg.Beta, cfg.LR, cfg.Rule != nil, ref != nil, pol.BatchSize())
	}
	m := &DPO{Cfg: cfg, Policy: pol, Ref: NewLogProber(ref), Task: task}
	P := pol.BatchSize() / 2
	opt := optimizer.Adam().LearningRate(cfg.LR).Done()
	k := pol.NumInputs()
	var err error
	m.step, err = trainer.NewStep(pol.Backend(), pol.Store(), pol.TrainedScope(), opt, "dpo",
		func(root *model.Scope, in []*graph.Node) (*graph.Node, []*graph.Node) {
			logp := pol.TokenLogProbs(root, in)
			seq := SequenceLogProbs(logp, in[k])
			ref := in[k+1]
			chosen, rejected := graph.Slice(seq, graph.AxisRange(0, P)), graph.Slice(seq, graph.AxisRange(P, 2*P))
			refC, refR := graph.Slice(ref, graph.AxisRange(0, P)), graph.Slice(ref, graph.AxisRange(P, 2*P))
			loss, margin, acc := DPOLoss(chosen, rejected, refC, refR, in[k+2], cfg.Beta)
			return loss, []*graph.Node{margin, acc}
		})
	return m, err
}

// Name is "eta-dpo".
func (m *DPO) Name() string { return "eta-dpo" }

// Iterate samples, builds pairs and takes one DPO step; an iteration without any pair only
// reports its statistics.
func (m *DPO) Iterate(rows []int) (Stats, error) {
	ro, st, ph, err := sampleAndRunWith(m.Policy, m.Task, rows, m.Cfg.Temperature, func(ro *Rollout) error {
		ro.Traced = true // the trace preference compares runs with the reference's
		return ro.Execute(Passed)
	})
	if err != nil {
		return nil, err
	}
	pairs, err := Pairs(ro, m.Cfg.Group, m.Cfg.Rule)
	if err != nil {
		return nil, err
	}
	ph.mark("pairs")
	st["pairs"] = float64(len(pairs))
	P := m.Policy.BatchSize() / 2
	if len(pairs) == 0 {
		return st, nil
	}
	if len(pairs) > P {
		// Keep a deterministic spread over the groups rather than the first groups only.
		step := float64(len(pairs)) / float64(P)
		kept := make([]Pair, P)
		for i := range P {
			kept[i] = pairs[int(float64(i)*step)]
		}
		pairs = kept
	}
	order := make([]int, 2*P)
	valid := make([]float32, P)
	for i := range P {
		p := pairs[0]
		if i < len(pairs) {
			p, valid[i] = pairs[i], 1
		}
		order[i], order[P+i] = p.Chosen, p.Rejected
	}
	prompts, ids, maskData, err := ro.Select(order)
	if err != nil {
		return nil, err
	}
	refLogp, err := m.Ref.Rows(prompts, ids)
	if err != nil {
		return nil, err
	}
	ph.mark("reference")
	refSeq := make([]float32, 2*P)
	for r := range 2 * P {
		for t := range ro.T {
			refSeq[r] += refLogp[r*ro.T+t] * maskData[r*ro.T+t]
		}
	}
	in, err := m.Policy.Inputs(prompts, ids)
	if err != nil {
		return nil, err
	}
	vals, err := m.step.Run(tensorArgs(in, tensors.FromFlatDataAndDimensions(maskData, 2*P, ro.T),
		tensors.FromFlatDataAndDimensions(refSeq, 2*P), tensors.FromFlatDataAndDimensions(valid, P))...)
	if err != nil {
		return nil, err
	}
	ph.mark("update")
	st["loss"], st["margin"], st["pair_acc"] = vals[0], vals[1], vals[2]
	return st, nil
}

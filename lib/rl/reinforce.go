package rl

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/lib/trainer"
)

// ReinforceConfig configures critic-augmented REINFORCE (seed 004, sections 4.2-4.6, Algorithm 1).
type ReinforceConfig struct {
	// Reward is the return r(W) of a sampled program: reward.Outcome (eq. 4.6), reward.Syntax
	// (eq. 4.7), or a weighted reward.Sum with the structure rewards (eq. 4.8, 4.9).
	Reward reward.Func
	// Critic scales every token's reward by the critic's probability of the sample's true outcome.
	Critic bool
	// BalancedCritic trains the critic with every outcome class of a batch weighted equally
	// (CriticNet.Balanced) instead of every sample: the plain loss lets the critic predict the
	// majority class and never learn the rare errors.
	BalancedCritic bool
	// CriticWarmup is the number of iterations, before any policy update, that only sample,
	// execute and train the critic (CodeRL trains its critic before the actor).
	CriticWarmup int
	LR, CriticLR float64
	Temperature  float32
	// CEEvery interleaves one cross-entropy step on the labelled data every CEEvery iterations
	// (0: never), which keeps the policy near its supervised start.
	CEEvery int
}

// DefaultReinforceConfig is the outcome reward with the critic.
func DefaultReinforceConfig() ReinforceConfig {
	return ReinforceConfig{Reward: reward.Outcome, Critic: true, CriticWarmup: 20, LR: 1e-4, CriticLR: 1e-3, Temperature: 1}
}

// Reinforce is seed 004's trainer. One Iterate call is one pass of Algorithm 1's inner loops over
// a batch of prompts:
//
//  1. sample W^s ~ π_θ(·|D) for every prompt (lines 13-24) and decode the greedy W^b as baseline;
//  2. run both in the sandbox and score them: r(W^s), r(W^b) (line 25);
//  3. token weights: w_t = (r(W^s) - r(W^b)) · q̂_φ(w_t^s) with the critic, where
//     q̂_φ(w_t^s) = v_t[u] is the critic's probability of the sample's true outcome u after token t;
//     w_t = r(W^s) - r(W^b) without it;
//  4. policy update on -Σ_t w_t log π(w_t^s) (PolicyGradient; lines 27-31);
//  5. critic update on -log p_φ(u | W^s, D) (lines 32-33).
//
// Step 3 follows CodeRL (Le et al., 2022), which the seed summarises: the critic's probability
// scales the token rewards, and the greedy sample's return is the baseline. Algorithm 1 as printed
// adds Σ_t q̂ to the return instead; since q̂ ∈ (0, 1) that only pushes every sampled token up,
// more for longer programs, so it is not the default.
type Reinforce struct {
	Cfg    ReinforceConfig
	Policy Policy
	Critic *CriticNet // nil unless Cfg.Critic
	Task   *Task
	// Labelled is the supervised data for interleaved CE steps (Cfg.CEEvery): prompts whose
	// Reference is imitated.
	Labelled *Task

	step, ceStep *trainer.Step
	iter         int
	src          *rand.PCG // rng's source, kept for MarshalState (state.go)
	rng          *rand.Rand
}

// NewReinforce prepares the trainer. The policy's generator should start from a CE-trained
// checkpoint (trainer.CopyWeights); the critic starts from random weights in the same store.
func NewReinforce(cfg ReinforceConfig, pol Policy, task *Task, labelled *Task, seed int64) (*Reinforce, error) {
	if cfg.Reward == nil || cfg.LR <= 0 || (cfg.Critic && cfg.CriticLR <= 0) || cfg.Temperature <= 0 {
		return nil, fmt.Errorf("rl: reinforce: bad config (reward set %v, lr %g, critic lr %g, temperature %g)",
			cfg.Reward != nil, cfg.LR, cfg.CriticLR, cfg.Temperature)
	}
	if cfg.CEEvery > 0 && labelled == nil {
		return nil, fmt.Errorf("rl: reinforce: CEEvery %d needs labelled data", cfg.CEEvery)
	}
	src := rand.NewPCG(uint64(seed), 41)
	m := &Reinforce{Cfg: cfg, Policy: pol, Task: task, Labelled: labelled, src: src, rng: rand.New(src)}
	if cfg.Critic {
		m.Critic = NewCriticNet(pol, "critic", 32, 64)
		m.Critic.Balanced = cfg.BalancedCritic
	}
	var err error
	opt := optimizer.Adam().LearningRate(cfg.LR).Done()
	k := pol.NumInputs()
	m.step, err = trainer.NewStep(pol.Backend(), pol.Store(), pol.TrainedScope(), opt, "reinforce",
		func(root *model.Scope, in []*graph.Node) (*graph.Node, []*graph.Node) {
			logp := pol.TokenLogProbs(root, in)
			return PolicyGradient(logp, in[k], in[k+1]), nil
		})
	if err != nil {
		return nil, err
	}
	if cfg.CEEvery > 0 {
		if m.ceStep, err = NewSFTStep(pol, cfg.LR); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Name is "reinforce" or "reinforce+critic".
func (m *Reinforce) Name() string {
	if m.Critic != nil {
		return "reinforce+critic"
	}
	return "reinforce"
}

// Iterate runs one iteration on the prompts rows and reports its statistics.
func (m *Reinforce) Iterate(rows []int) (Stats, error) {
	m.iter++
	pol := m.Policy
	ro, st, ph, err := sampleAndRun(pol, m.Task, rows, m.Cfg.Temperature, m.Cfg.Reward)
	if err != nil {
		return nil, err
	}
	warm := m.iter <= m.Cfg.CriticWarmup && m.Critic != nil
	if !warm {
		base, err := Sample(pol, m.Task, rows, 0)
		if err != nil {
			return nil, err
		}
		ph.mark("sample")
		if err := base.Execute(m.Cfg.Reward); err != nil {
			return nil, err
		}
		ph.mark("execute")
		weights := make([]float32, len(ro.Tokens))
		var q []float32
		if m.Critic != nil {
			if q, _, err = m.Critic.PredictClasses(ro); err != nil {
				return nil, err
			}
			ph.mark("critic")
		}
		K := NumClasses
		var adv float64
		for r := range ro.N {
			a := ro.Rewards[r] - base.Rewards[r]
			adv += a
			u := ro.Results[r].Outcome.Class()
			for t := range ro.Lengths[r] {
				w := a
				if q != nil {
					w *= float64(q[(r*ro.T+t)*K+u])
				}
				weights[r*ro.T+t] = float32(w)
			}
		}
		in, err := ro.Inputs()
		if err != nil {
			return nil, err
		}
		mask, err := ro.Mask()
		if err != nil {
			return nil, err
		}
		B := len(ro.Rows)
		vals, err := m.step.Run(tensorArgs(in, tensors.FromFlatDataAndDimensions(weights, B, ro.T),
			tensors.FromFlatDataAndDimensions(mask, B, ro.T))...)
		if err != nil {
			return nil, err
		}
		ph.mark("update")
		st["pg_loss"] = vals[0]
		st["baseline_reward"] = mean(base.Rewards)
		st["advantage"] = adv / float64(ro.N)
	}
	if m.Critic != nil {
		loss, acc, err := m.Critic.TrainClasses(ro, m.Cfg.CriticLR)
		if err != nil {
			return nil, err
		}
		st["critic_loss"], st["critic_acc"] = loss, acc
		ph.mark("critic")
	}
	if m.ceStep != nil && m.iter%m.Cfg.CEEvery == 0 {
		idx := m.rng.Perm(m.Labelled.Len())[:min(pol.BatchSize(), m.Labelled.Len())]
		vals, err := RunSFT(m.ceStep, pol, m.Labelled, idx)
		if err != nil {
			return nil, err
		}
		st["ce_loss"] = vals[0]
		ph.mark("update")
	}
	return st, nil
}

package rl

import (
	"fmt"

	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/lib/trainer"
)

// PPOConfig configures binary-reward PPO (seed 001's baseline).
type PPOConfig struct {
	Reward reward.Func // default Passed: 1 for a passing program, 0 otherwise
	// LR is the policy's learning rate, ValueLR the value function's.
	LR, ValueLR float64
	// ClipEps is the ratio clip ε; KLBeta the per-token KL penalty to the SFT reference, folded
	// into the reward as in RLHF's PPO: r_t = -β (log π_old,t - log π_ref,t), plus the program's
	// reward on its last token.
	ClipEps, KLBeta float64
	// Gamma and Lambda are GAE's discount and trace parameters.
	Gamma, Lambda float64
	// Epochs is the number of policy and value updates per batch of samples.
	Epochs      int
	Temperature float32
}

// DefaultPPOConfig is binary reward, ε = 0.2, β = 0.05, γ = 1, λ = 0.95, 4 epochs per batch.
func DefaultPPOConfig() PPOConfig {
	return PPOConfig{Reward: Passed, LR: 1e-4, ValueLR: 1e-3, ClipEps: 0.2, KLBeta: 0.05, Gamma: 1, Lambda: 0.95,
		Epochs: 4, Temperature: 1}
}

// PPO is proximal policy optimisation (Schulman et al., 2017) with a learned value function (a
// CriticNet value head over the description and the program so far), generalised advantage
// estimation, a KL penalty to the frozen SFT reference, and several clipped updates per batch.
type PPO struct {
	Cfg    PPOConfig
	Policy Policy
	Ref    *LogProber // the frozen SFT policy
	Value  *CriticNet
	Task   *Task
	step   *trainer.Step
}

// NewPPO prepares the trainer; ref is the frozen SFT policy.
func NewPPO(cfg PPOConfig, pol, ref Policy, task *Task) (*PPO, error) {
	if cfg.Reward == nil || cfg.LR <= 0 || cfg.ValueLR <= 0 || cfg.ClipEps <= 0 || cfg.Epochs < 1 || ref == nil {
		return nil, fmt.Errorf("rl: ppo: bad config (reward set %v, lr %g, value lr %g, clip %g, epochs %d, reference set %v)",
			cfg.Reward != nil, cfg.LR, cfg.ValueLR, cfg.ClipEps, cfg.Epochs, ref != nil)
	}
	m := &PPO{Cfg: cfg, Policy: pol, Ref: NewLogProber(ref), Task: task, Value: NewCriticNet(pol, "value", 32, 64)}
	var err error
	m.step, err = newClippedStep(pol, cfg.LR, cfg.ClipEps, cfg.ClipEps, 0, SumPerProgram, "ppo")
	return m, err
}

// Name is "ppo".
func (m *PPO) Name() string { return "ppo" }

// GAE computes generalised advantage estimates (Schulman et al., 2016) for one program with
// per-token rewards r and value estimates v (V(s_t), the state before token t; V after the last
// token is 0):
//
//	δ_t = r_t + γ V(s_{t+1}) - V(s_t),   A_t = Σ_k (γλ)^k δ_{t+k},   R_t = A_t + V(s_t)
func GAE(r, v []float64, gamma, lambda float64) (adv, returns []float64, err error) {
	if len(r) != len(v) {
		return nil, nil, fmt.Errorf("rl: GAE: %d rewards and %d values (want one value per reward)", len(r), len(v))
	}
	n := len(r)
	adv, returns = make([]float64, n), make([]float64, n)
	next, running := 0.0, 0.0
	for t := n - 1; t >= 0; t-- {
		delta := r[t] + gamma*next - v[t]
		running = delta + gamma*lambda*running
		adv[t], returns[t] = running, running+v[t]
		next = v[t]
	}
	return adv, returns, nil
}

// Iterate samples one program per row, scores it, estimates advantages with GAE and runs
// Cfg.Epochs clipped policy updates and value updates.
func (m *PPO) Iterate(rows []int) (Stats, error) {
	ro, st, ph, err := sampleAndRun(m.Policy, m.Task, rows, m.Cfg.Temperature, m.Cfg.Reward)
	if err != nil {
		return nil, err
	}
	refLogp, err := m.Ref.Rollout(ro)
	if err != nil {
		return nil, err
	}
	ph.mark("reference")
	values, err := m.Value.PredictValues(ro)
	if err != nil {
		return nil, err
	}
	ph.mark("value")
	T := ro.T
	adv, returns := make([]float32, len(ro.Tokens)), make([]float32, len(ro.Tokens))
	var all []float64
	var kl float64
	for r := range ro.N {
		L := ro.Lengths[r]
		rew, v := make([]float64, L), make([]float64, L)
		for t := range L {
			k := r*T + t
			d := float64(ro.LogProbs[k] - refLogp[k])
			kl += d
			rew[t] = -m.Cfg.KLBeta * d
			v[t] = float64(values[k])
		}
		rew[L-1] += ro.Rewards[r]
		a, ret, err := GAE(rew, v, m.Cfg.Gamma, m.Cfg.Lambda)
		if err != nil {
			return nil, err
		}
		for t := range L {
			adv[r*T+t], returns[r*T+t] = float32(a[t]), float32(ret[t])
		}
		all = append(all, a...)
	}
	// Whiten the advantages over the batch's tokens, as PPO implementations do.
	mu, sd := meanStd(all)
	sd += 1e-8
	mask, err := ro.Mask()
	if err != nil {
		return nil, err
	}
	for k := range adv {
		if mask[k] > 0 {
			adv[k] = float32((float64(adv[k]) - mu) / sd)
		}
	}
	for range m.Cfg.Epochs {
		vals, err := runClipped(m.step, ro, adv, mask, refLogp)
		if err != nil {
			return nil, err
		}
		st["loss"], st["clipped"] = vals[0], vals[1]
		if st["value_loss"], err = m.Value.TrainValues(ro, returns, m.Cfg.ValueLR); err != nil {
			return nil, err
		}
	}
	ph.mark("update")
	st["kl"] = kl / float64(ro.N)
	return st, nil
}

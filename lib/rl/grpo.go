package rl

import (
	"fmt"

	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/lib/trainer"
	"github.com/execfeed/execfeed/sandbox"
)

// GRPOConfig configures GRPO (Shao et al., 2024) and its EGCA variant (seed 003).
type GRPOConfig struct {
	// Group is G, the number of programs sampled per prompt.
	Group int
	// Reward scores a program; GRPO normalises it within the group. Default: Passed (1 or 0).
	Reward reward.Func
	LR     float64
	// ClipEps is the ratio clip ε; KLBeta the weight of KL(π || π_ref) in the loss (0: none).
	ClipEps, KLBeta float64
	// Epochs is the number of updates per batch of samples (μ); the first is on-policy.
	Epochs      int
	Temperature float32
	// EGCA puts the advantage of near-correct failing programs on the token where their execution
	// first diverges from the reference (see egca.go).
	EGCA bool
}

// DefaultGRPOConfig is GRPO with 8 samples per prompt and binary pass/fail reward.
func DefaultGRPOConfig() GRPOConfig {
	return GRPOConfig{Group: 8, Reward: Passed, LR: 1e-4, ClipEps: 0.2, KLBeta: 0.02, Epochs: 1, Temperature: 1}
}

// Passed is the binary reward: 1 if the program passed every test, else 0.
func Passed(s reward.Sample) float64 {
	if s.Outcome == sandbox.PassedTest {
		return 1
	}
	return 0
}

// GRPO is group relative policy optimisation: for every prompt, sample G programs, run them, and
// give each the advantage of its reward relative to its group,
//
//	A_i = (r_i - mean(r_1..r_G)) / std(r_1..r_G)      (0 when the group's rewards are all equal)
//
// on every token of the program; then minimise the clipped surrogate (ClippedSurrogate) plus
// β·KL(π || π_ref) (KL). With Cfg.EGCA, near-correct failing programs keep their advantage only on
// their first divergent token (EGCAMask).
type GRPO struct {
	Cfg    GRPOConfig
	Policy *Policy
	Ref    *Policy // frozen reference for the KL term; nil when KLBeta is 0
	Task   *Task
	step   *trainer.Step
}

// NewGRPO prepares the trainer; ref is the frozen SFT policy (needed when KLBeta > 0).
func NewGRPO(cfg GRPOConfig, pol, ref *Policy, task *Task) (*GRPO, error) {
	if cfg.Group < 2 || cfg.Reward == nil || cfg.LR <= 0 || cfg.ClipEps <= 0 || cfg.Epochs < 1 || cfg.Temperature <= 0 {
		return nil, fmt.Errorf("rl: grpo: bad config (group %d, reward set %v, lr %g, clip %g, epochs %d, temperature %g)",
			cfg.Group, cfg.Reward != nil, cfg.LR, cfg.ClipEps, cfg.Epochs, cfg.Temperature)
	}
	if cfg.KLBeta > 0 && ref == nil {
		return nil, fmt.Errorf("rl: grpo: KLBeta %g needs a reference policy", cfg.KLBeta)
	}
	m := &GRPO{Cfg: cfg, Policy: pol, Ref: ref, Task: task}
	var err error
	m.step, err = newClippedStep(pol, cfg.LR, cfg.ClipEps, cfg.KLBeta, m.Name())
	return m, err
}

// Name is "grpo" or "egca".
func (m *GRPO) Name() string {
	if m.Cfg.EGCA {
		return "egca"
	}
	return "grpo"
}

// GroupAdvantages normalises rewards within consecutive groups of size g: (r - mean) / std, with
// the population standard deviation; a group whose rewards are all equal gets 0.
func GroupAdvantages(rewards []float64, g int) []float64 {
	adv := make([]float64, len(rewards))
	for lo := 0; lo < len(rewards); lo += g {
		grp := rewards[lo:min(lo+g, len(rewards))]
		mu, std := meanStd(grp)
		if std < 1e-8 {
			continue
		}
		for i, r := range grp {
			adv[lo+i] = (r - mu) / std
		}
	}
	return adv
}

// Iterate samples Group programs for each prompt of rows (rows must list each prompt Group
// times in a row, as Prompts does) and runs Cfg.Epochs updates.
func (m *GRPO) Iterate(rows []int) (Stats, error) {
	G := m.Cfg.Group
	if len(rows)%G != 0 {
		return nil, fmt.Errorf("rl: grpo: %d rows is not a multiple of the group size %d", len(rows), G)
	}
	ro, st, ph, err := m.Policy.sampleAndRun(m.Task, rows, m.Cfg.Temperature, m.Cfg.Reward)
	if err != nil {
		return nil, err
	}
	seqAdv := GroupAdvantages(ro.Rewards, G)
	adv, mask := make([]float32, len(ro.Tokens)), ro.Mask()
	for r := range ro.N {
		for t := range ro.Lengths[r] {
			adv[r*ro.T+t] = float32(seqAdv[r])
		}
	}
	if m.Cfg.EGCA {
		n, err := EGCAMask(ro, seqAdv, adv, mask)
		if err != nil {
			return nil, err
		}
		st["egca_localised"] = float64(n) / float64(ro.N)
		ph.mark("egca")
	}
	var refLogp []float32
	if m.Ref != nil {
		if refLogp, err = m.Ref.RolloutLogProbs(ro); err != nil {
			return nil, err
		}
		ph.mark("reference")
	}
	for range m.Cfg.Epochs {
		vals, err := runClipped(m.step, ro, adv, mask, refLogp)
		if err != nil {
			return nil, err
		}
		st["loss"], st["clipped"], st["kl"] = vals[0], vals[1], vals[2]
	}
	ph.mark("update")
	return st, nil
}

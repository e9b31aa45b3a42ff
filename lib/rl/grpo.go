package rl

import (
	"fmt"

	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/lib/trainer"
	"github.com/execfeed/execfeed/sandbox"
)

// GRPOConfig configures GRPO (Shao et al., 2024), its loss variants (Dr. GRPO, DAPO) and its
// EGCA variant (seed 003).
type GRPOConfig struct {
	// Group is G, the number of programs sampled per prompt.
	Group int
	// Reward scores a program; GRPO normalises it within the group. Default: Passed (1 or 0).
	// Rewards, when it has terms, replaces Reward with a weighted sum of named rewards, each
	// logged on its own.
	Reward  reward.Func
	Rewards Rewards
	LR      float64
	// ClipEps is the ratio clip ε; KLBeta the weight of KL(π || π_ref) in the loss (0: none).
	// EpsHigh, when larger than ClipEps, is DAPO's clip-higher upper bound 1+EpsHigh.
	ClipEps, EpsHigh, KLBeta float64
	// Loss is how token terms are normalised: SumPerProgram (default), PerSequenceMean ("grpo"),
	// ConstantLength ("dr_grpo"), TokenMean ("dapo").
	Loss Aggregation
	// Scale is how group-centred rewards are scaled into advantages: "group" (divide by the
	// group's standard deviation, GRPO's default), "batch" (by the batch's), or "none" (Dr. GRPO).
	Scale string
	// Epochs is the number of updates per batch of samples (μ); the first is on-policy.
	Epochs      int
	Temperature float32
	// EGCA puts the advantage of near-correct failing programs on the tokens where their
	// execution first diverges from the reference (see egca.go).
	EGCA bool
}

// DefaultGRPOConfig is GRPO with 8 samples per prompt and binary pass/fail reward.
func DefaultGRPOConfig() GRPOConfig {
	return GRPOConfig{Group: 8, Reward: Passed, LR: 1e-4, ClipEps: 0.2, KLBeta: 0.02, Loss: SumPerProgram, Scale: "group",
		Epochs: 1, Temperature: 1}
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
// on every token of the program; then minimise the clipped surrogate (ClippedSurrogateAgg) plus
// β·KL(π || π_ref) (KL). With Cfg.EGCA, near-correct failing programs keep their advantage only on
// their first divergent tokens (EGCAMask).
type GRPO struct {
	Cfg    GRPOConfig
	Policy Policy
	Ref    *LogProber // frozen reference for the KL term; nil when KLBeta is 0
	Task   *Task
	step   *trainer.Step
}

// NewGRPO prepares the trainer; ref is the frozen SFT policy (needed when KLBeta > 0).
func NewGRPO(cfg GRPOConfig, pol, ref Policy, task *Task) (*GRPO, error) {
	if len(cfg.Rewards.Terms) == 0 && cfg.Reward != nil {
		cfg.Rewards = Single("reward", cfg.Reward)
	}
	if cfg.Loss == "" {
		cfg.Loss = SumPerProgram
	}
	if cfg.Scale == "" {
		cfg.Scale = "group"
	}
	if err := cfg.Rewards.validate(); err != nil {
		return nil, fmt.Errorf("rl: grpo: %w", err)
	}
	if _, err := ParseAggregation(string(cfg.Loss)); err != nil {
		return nil, fmt.Errorf("rl: grpo: %w", err)
	}
	if cfg.Group < 2 || cfg.LR <= 0 || cfg.ClipEps <= 0 || cfg.EpsHigh < 0 || cfg.Epochs < 1 || cfg.Temperature <= 0 ||
		(cfg.Scale != "group" && cfg.Scale != "batch" && cfg.Scale != "none") {
		return nil, fmt.Errorf("rl: grpo: bad config (group %d, lr %g, clip %g, clip high %g, epochs %d, temperature %g, scale %q)",
			cfg.Group, cfg.LR, cfg.ClipEps, cfg.EpsHigh, cfg.Epochs, cfg.Temperature, cfg.Scale)
	}
	if cfg.KLBeta > 0 && ref == nil {
		return nil, fmt.Errorf("rl: grpo: KLBeta %g needs a reference policy", cfg.KLBeta)
	}
	m := &GRPO{Cfg: cfg, Policy: pol, Task: task}
	if ref != nil {
		m.Ref = NewLogProber(ref)
	}
	var err error
	m.step, err = newClippedStep(pol, cfg.LR, cfg.ClipEps, cfg.EpsHigh, cfg.KLBeta, cfg.Loss, m.Name())
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
// the population standard deviation; a group whose rewards are all equal gets 0. g must be at
// least 2 and divide the number of rewards.
func GroupAdvantages(rewards []float64, g int) ([]float64, error) {
	adv, _, err := ScaledAdvantages(rewards, g, "group")
	return adv, err
}

// ScaledAdvantages centres rewards on their group's mean (groups of g consecutive rewards) and
// scales them: by the group's standard deviation ("group"), the whole batch's ("batch"), or not
// at all ("none"). A group whose rewards are all equal gets 0 and teaches nothing; equal is the
// fraction of such groups. It is an error when g < 2 (a lone sample has nothing to be relative
// to) or g does not divide the number of rewards (the last group would be another size).
func ScaledAdvantages(rewards []float64, g int, scale string) (adv []float64, equal float64, err error) {
	if g < 2 || len(rewards)%g != 0 {
		return nil, 0, fmt.Errorf("rl: advantages: group size %d for %d rewards (want g >= 2 dividing them)", g, len(rewards))
	}
	if scale != "group" && scale != "batch" && scale != "none" {
		return nil, 0, fmt.Errorf("rl: advantages: unknown scaling %q (want group, batch or none)", scale)
	}
	adv = make([]float64, len(rewards))
	_, batchStd := meanStd(rewards)
	groups := 0
	for lo := 0; lo < len(rewards); lo += g {
		groups++
		grp := rewards[lo : lo+g]
		mu, std := meanStd(grp)
		if std < 1e-8 {
			equal++
			continue
		}
		div := 1.0
		switch scale {
		case "group":
			div = std
		case "batch":
			div = batchStd
		}
		for i, r := range grp {
			adv[lo+i] = (r - mu) / div
		}
	}
	return adv, equal / float64(max(groups, 1)), nil
}

// TokenAdvantages puts each real row's advantage seqAdv[r] on every generated position of the
// row, [B,T] (0 elsewhere): GRPO's token advantages, which EGCAMask then localises.
func TokenAdvantages(ro *Rollout, seqAdv []float64) ([]float32, error) {
	if err := ro.tokenShape(); err != nil {
		return nil, err
	}
	if len(seqAdv) != ro.N {
		return nil, fmt.Errorf("rl: %d advantages for %d rows", len(seqAdv), ro.N)
	}
	adv := make([]float32, len(ro.Tokens))
	for r := range ro.N {
		for t := range ro.Lengths[r] {
			adv[r*ro.T+t] = float32(seqAdv[r])
		}
	}
	return adv, nil
}

// Iterate samples Group programs for each prompt of rows (rows must list each prompt Group
// times in a row, as Prompts does) and runs Cfg.Epochs updates.
func (m *GRPO) Iterate(rows []int) (Stats, error) {
	G := m.Cfg.Group
	if len(rows)%G != 0 {
		return nil, fmt.Errorf("rl: grpo: %d rows is not a multiple of the group size %d", len(rows), G)
	}
	ro, st, ph, err := sampleAndRunWith(m.Policy, m.Task, rows, m.Cfg.Temperature,
		func(ro *Rollout) error { return ro.ExecuteRewards(m.Cfg.Rewards) })
	if err != nil {
		return nil, err
	}
	for name, v := range ro.Parts {
		st["reward/"+name], st["reward/"+name+"_std"] = meanStd(v)
	}
	seqAdv, equal, err := ScaledAdvantages(ro.Rewards, G, m.Cfg.Scale)
	if err != nil {
		return nil, err
	}
	st["groups_all_equal"] = equal
	mask, err := ro.Mask()
	if err != nil {
		return nil, err
	}
	adv, err := TokenAdvantages(ro, seqAdv)
	if err != nil {
		return nil, err
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
		if refLogp, err = m.Ref.Rollout(ro); err != nil {
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

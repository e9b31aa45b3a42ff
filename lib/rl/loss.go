package rl

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/trainer"
)

// The losses below are the graph functions the methods share. Token tensors are [B,T]: one row
// per sampled program, one column per decoding position; mask [B,T] is 1 where a token was
// generated (Rollout.Mask). Every sequence loss is a sum over a program's tokens, averaged over
// the programs (rows with at least one masked-in token), so that a longer program is not
// down-weighted token by token and EGCA's masking (which zeroes most tokens' advantages) does not
// rescale the tokens it keeps.

// SequenceLogProbs is Σ_t mask·log π [B]: the log-probability of each whole program.
func SequenceLogProbs(logp, mask *Node) *Node { return ReduceSum(Mul(logp, mask), -1) }

// rows is the number of programs in the batch: rows of mask with a masked-in token (at least 1).
func rows(mask *Node) *Node {
	return MaxScalar(ReduceAllSum(ReduceMax(mask, -1)), 1)
}

// perProgram averages a masked [B,T] term summed over tokens over the programs.
func perProgram(term, mask *Node) *Node {
	return Div(ReduceAllSum(Mul(term, mask)), rows(mask))
}

// PolicyGradient is the REINFORCE surrogate loss of seed 004, eq. (4.4) with per-token weights:
//
//	L = -(1/N) Σ_programs Σ_t w_t · log π(w_t | w_<t, D)
//
// whose gradient is the policy gradient -E[Σ_t w_t ∇ log π]. With w_t = r(W) - b for every token it
// is eq. (4.4) with a baseline; Algorithm 1 and the critic choose other w_t (see Reinforce).
// weights must already be 0 outside the mask.
func PolicyGradient(logp, weights, mask *Node) *Node {
	return Neg(perProgram(Mul(logp, StopGradient(weights)), mask))
}

// ClippedSurrogate is PPO's clipped objective (Schulman et al., 2017), as a loss to minimise:
//
//	ρ_t = exp(log π_t - log π_old,t)
//	L   = -(1/N) Σ_programs Σ_t min(ρ_t A_t, clip(ρ_t, 1-ε, 1+ε) A_t)
//
// It also returns the fraction of masked tokens whose ratio was clipped.
func ClippedSurrogate(logp, oldLogp, adv, mask *Node, eps float64) (loss, clipped *Node) {
	return ClippedSurrogateAgg(logp, oldLogp, adv, mask, eps, eps, SumPerProgram, 0)
}

// Aggregation is how a token-level objective is normalised into a loss: the GRPO family's
// variants differ in this (and in the clip range) only.
type Aggregation string

const (
	// SumPerProgram sums a program's token terms and averages over the programs:
	// (1/N) Σ_i Σ_t. It has no length bias, like Dr. GRPO, whose constant divisor max-length it
	// omits (under Adam a constant scale of the loss does not change the update). The default.
	SumPerProgram Aggregation = "sum"
	// PerSequenceMean is the original GRPO (Shao et al., 2024): (1/N) Σ_i (1/|o_i|) Σ_t, which
	// weighs the tokens of short programs more.
	PerSequenceMean Aggregation = "grpo"
	// ConstantLength is Dr. GRPO (Liu et al., 2025): (1/(N·L)) Σ_i Σ_t with L the maximum
	// completion length (MaxTokens).
	ConstantLength Aggregation = "dr_grpo"
	// TokenMean is DAPO (Yu et al., 2025): (1/Σ_i |o_i|) Σ_i Σ_t, every token of the batch
	// counted once.
	TokenMean Aggregation = "dapo"
)

// ParseAggregation checks a loss-variant name.
func ParseAggregation(s string) (Aggregation, error) {
	switch a := Aggregation(s); a {
	case SumPerProgram, PerSequenceMean, ConstantLength, TokenMean:
		return a, nil
	}
	return "", fmt.Errorf("rl: unknown loss variant %q (want sum, grpo, dr_grpo or dapo)", s)
}

// aggregate normalises a masked [B,T] token term by agg; maxLen is L for ConstantLength.
func aggregate(term, mask *Node, agg Aggregation, maxLen int) *Node {
	switch agg {
	case PerSequenceMean:
		perSeq := Div(ReduceSum(Mul(term, mask), -1), MaxScalar(ReduceSum(mask, -1), 1))
		return Div(ReduceAllSum(perSeq), rows(mask))
	case ConstantLength:
		return DivScalar(perProgram(term, mask), float64(max(maxLen, 1)))
	case TokenMean:
		return Div(ReduceAllSum(Mul(term, mask)), MaxScalar(ReduceAllSum(mask), 1))
	}
	return perProgram(term, mask)
}

// ClippedSurrogateAgg is ClippedSurrogate with the ratio clipped to [1-eps, 1+epsHigh] and the
// token terms normalised by agg (maxLen is ConstantLength's L).
func ClippedSurrogateAgg(logp, oldLogp, adv, mask *Node, eps, epsHigh float64, agg Aggregation, maxLen int) (loss, clipped *Node) {
	if epsHigh <= 0 {
		epsHigh = eps
	}
	ratio := Exp(Sub(logp, StopGradient(oldLogp)))
	adv = StopGradient(adv)
	unclipped := Mul(ratio, adv)
	clippedRatio := ClipScalar(ratio, 1-eps, 1+epsHigh)
	loss = Neg(aggregate(Min(unclipped, Mul(clippedRatio, adv)), mask, agg, maxLen))
	isClipped := ConvertDType(NotEqual(ratio, clippedRatio), mask.DType())
	clipped = Div(ReduceAllSum(Mul(isClipped, mask)), MaxScalar(ReduceAllSum(mask), 1))
	return loss, clipped
}

// KL estimates KL(π || π_ref) per program from the sampled tokens with the non-negative,
// unbiased "k3" estimator (Schulman, 2020), as GRPO uses it:
//
//	k3_t = exp(log π_ref,t - log π_t) - (log π_ref,t - log π_t) - 1
//	KL   = (1/N) Σ_programs Σ_t k3_t
func KL(logp, refLogp, mask *Node) *Node {
	d := Sub(StopGradient(refLogp), logp)
	return perProgram(Sub(Sub(Exp(d), d), OnesLike(d)), mask)
}

// DPOLoss is the direct preference optimisation loss (Rafailov et al., 2023) of pairs whose
// sequence log-probabilities under the policy (pi*) and the frozen reference (ref*) are given for
// the chosen and the rejected program [P]; valid [P] is 1 for real pairs, 0 for padding:
//
//	L = -(1/P) Σ_pairs log σ(β [(log π(y_w) - log π_ref(y_w)) - (log π(y_l) - log π_ref(y_l))])
//
// It also returns the mean implicit reward margin β[...] and the fraction of pairs it ranks right.
func DPOLoss(piChosen, piRejected, refChosen, refRejected, valid *Node, beta float64) (loss, margin, accuracy *Node) {
	logits := MulScalar(Sub(Sub(piChosen, StopGradient(refChosen)), Sub(piRejected, StopGradient(refRejected))), beta)
	n := MaxScalar(ReduceAllSum(valid), 1)
	// -log σ(x) = softplus(-x)
	loss = Div(ReduceAllSum(Mul(Softplus(Neg(logits)), valid)), n)
	margin = Div(ReduceAllSum(Mul(logits, valid)), n)
	right := ConvertDType(GreaterThan(logits, ZerosLike(logits)), valid.DType())
	accuracy = Div(ReduceAllSum(Mul(right, valid)), n)
	return loss, margin, accuracy
}

// newClippedStep compiles the update PPO, GRPO and EGCA share: the clipped surrogate plus, when
// klBeta > 0, klBeta·KL(π || π_ref) in the loss. Inputs: the policy's (Policy.Inputs), then old
// log-probs, advantages, mask and the reference's log-probs, all [B,T]. agg chooses how the
// token terms are normalised (see Aggregation); epsHigh > eps clips the ratio asymmetrically
// (DAPO's clip-higher), epsHigh = 0 means eps.
func newClippedStep(pol Policy, lr, eps, epsHigh, klBeta float64, agg Aggregation, name string) (*trainer.Step, error) {
	opt := optimizer.Adam().LearningRate(lr).Done()
	k := pol.NumInputs()
	T := pol.MaxTokens()
	return trainer.NewStep(pol.Backend(), pol.Store(), pol.TrainedScope(), opt, name,
		func(root *model.Scope, in []*Node) (*Node, []*Node) {
			logp := pol.TokenLogProbs(root, in)
			old, adv, mask, ref := in[k], in[k+1], in[k+2], in[k+3]
			loss, clipped := ClippedSurrogateAgg(logp, old, adv, mask, eps, epsHigh, agg, T)
			kl := KL(logp, ref, mask)
			if klBeta > 0 {
				loss = Add(loss, MulScalar(kl, klBeta))
			}
			return loss, []*Node{clipped, kl}
		})
}

// runClipped runs one clipped update on a rollout with per-token advantages adv and mask.
func runClipped(step *trainer.Step, ro *Rollout, adv, mask, refLogp []float32) ([]float64, error) {
	B, T := len(ro.Rows), ro.T
	in, err := ro.Inputs()
	if err != nil {
		return nil, err
	}
	t := func(x []float32) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(x, B, T) }
	if refLogp == nil {
		refLogp = ro.LogProbs
	}
	return step.Run(tensorArgs(in, t(ro.LogProbs), t(adv), t(mask), t(refLogp))...)
}

package rl

import (
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/lib/trainer"
)

// The losses below are the graph functions the methods share. Token tensors are [B,T]: one row
// per sampled program, one column per decoding position; mask [B,T] is 1 where a token was
// generated (Rollout.Mask). Every sequence loss is a sum over a program's tokens, averaged over
// the programs (rows with at least one masked-in token), so that a longer program is not
// down-weighted token by token and EGCA's masking (which zeroes most tokens' advantages) does not
// rescale the tokens it keeps.

// TokenLogProbs returns log π(tgt_t | tgt_<t, src) [B,T]: the teacher-forced log-probability of
// each target token under model m (decIn is BOS followed by the targets shifted right).
func TokenLogProbs(m *seq2seq.Model, scope *model.Scope, src, srcLen, decIn, tgt *Node) *Node {
	logp := LogSoftmax(m.Logits(scope, src, srcLen, decIn), -1)
	return ReduceSum(Mul(logp, OneHot(tgt, logp.Shape().Dim(-1), logp.DType())), -1)
}

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
	ratio := Exp(Sub(logp, StopGradient(oldLogp)))
	adv = StopGradient(adv)
	unclipped := Mul(ratio, adv)
	clippedRatio := ClipScalar(ratio, 1-eps, 1+eps)
	loss = Neg(perProgram(Min(unclipped, Mul(clippedRatio, adv)), mask))
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
// klBeta > 0, klBeta·KL(π || π_ref) in the loss. Inputs: src, srcLen, decIn, tgt, old log-probs,
// advantages, mask (all [B,T] but the first two) and the reference's log-probs [B,T].
func newClippedStep(pol *Policy, lr, eps, klBeta float64, name string) (*trainer.Step, error) {
	opt := optimizer.Adam().LearningRate(lr).Done()
	return trainer.NewStep(pol.Backend, pol.Store, "/"+seq2seq.Scope, opt, name,
		func(root *model.Scope, in []*Node) (*Node, []*Node) {
			logp := pol.logProbs(root, in)
			loss, clipped := ClippedSurrogate(logp, in[4], in[5], in[6], eps)
			kl := KL(logp, in[7], in[6])
			if klBeta > 0 {
				loss = Add(loss, MulScalar(kl, klBeta))
			}
			return loss, []*Node{clipped, kl}
		})
}

// runClipped runs one clipped update on a rollout with per-token advantages adv and mask.
func runClipped(step *trainer.Step, ro *Rollout, adv, mask, refLogp []float32) ([]float64, error) {
	B, T := len(ro.Rows), ro.T
	decIn, tgt, _ := ro.Sequences()
	t := func(x []float32) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(x, B, T) }
	if refLogp == nil {
		refLogp = ro.LogProbs
	}
	return step.Run(ro.Batch.Src, ro.Batch.SrcLen, decIn, tgt, t(ro.LogProbs), t(adv), t(mask), t(refLogp))
}

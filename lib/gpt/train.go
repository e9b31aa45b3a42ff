package gpt

import (
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/trainer"
)

// Scope is where a model's weights live in its store.
const Scope = "gpt"

// TokenLogProbs gathers log softmax(logits)[target] [B,T] for logits [B,T,V] and targets [B,T].
func TokenLogProbs(logits, targets *Node) *Node {
	logp := LogSoftmax(logits, -1)
	return ReduceSum(Mul(logp, OneHot(targets, logits.Shape().Dim(-1), logp.DType())), -1)
}

// LMLoss is the causal-LM cross-entropy of token rows tokens [B,L+1]: the mean over the
// positions where lossMask [B,L] is 1 of -log p(tokens[t+1] | tokens[:t+1]). A mask that is 1
// only on completion tokens trains on the completion given its prompt (prompt tokens masked).
func (m *Model) LMLoss(scope *model.Scope, tokens, lossMask *Node) *Node {
	L := tokens.Shape().Dim(1) - 1
	in := Slice(tokens, AxisRange(), AxisRange(0, L))
	tgt := Slice(tokens, AxisRange(), AxisRange(1, L+1))
	logp := TokenLogProbs(m.Logits(scope, in), tgt)
	mask := ConvertDType(lossMask, logp.DType())
	return Neg(Div(ReduceAllSum(Mul(logp, mask)), MaxScalar(ReduceAllSum(mask), 1)))
}

// LMStep compiles a causal-LM training step over the store's model under Scope: its inputs are
// tokens [B,L+1] (int32) and a loss mask [B,L] (float32), see LMLoss.
func (m *Model) LMStep(backend compute.Backend, store *model.Store, opt optimizer.Interface) (*trainer.Step, error) {
	return trainer.NewStep(backend, store, "/"+Scope, opt, "lm", func(root *model.Scope, in []*Node) (*Node, []*Node) {
		return m.LMLoss(root.In(Scope), in[0], in[1]), nil
	})
}

// Package def implements Differentiable Execution Feedback (seed 000): the generator is trained
// with its usual cross-entropy plus a functional term computed through a frozen proxy executor,
//
//	loss = CE(logits, reference) + λ · MSE(proxy(GumbelSoftmax(logits, τ), x), run(reference, x))
//
// where x are random input values (a, b, c). Gumbel-softmax turns the generator's next-token
// logits into soft tokens the proxy can read, so the MSE has a gradient with respect to the
// generator's weights. The straight-through variant feeds the proxy one-hot tokens in the forward
// pass and the soft tokens' gradient in the backward pass.
package def

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/proxy"
	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/lib/trainer"
)

// GumbelSoftmax draws soft one-hot samples softmax((logits + G) / τ) along the last axis, with G
// standard Gumbel noise from the scope's RNG. With straightThrough the forward value is the hard
// one-hot of the argmax and the gradient is the soft sample's (Jang et al., 2017).
func GumbelSoftmax(scope *model.Scope, logits, tau *Node, straightThrough bool) *Node {
	g := seq2seq.Gumbel(scope, logits.Graph(), logits.Shape())
	soft := Softmax(Div(Add(logits, g), tau), -1)
	if !straightThrough {
		return soft
	}
	hard := OneHot(ArgMax(soft, -1), soft.Shape().Dim(-1), soft.DType())
	return Add(StopGradient(Sub(hard, soft)), soft)
}

// AttachProxy copies a trained proxy's weights into the generator's store under the proxy scope,
// as non-trainable variables: the DEF step reads them but never updates them.
func AttachProxy(gen *seq2seq.Generator, p *proxy.Trained) error {
	prefix := "/" + proxy.Scope
	for v := range p.Store.IterVariables() {
		path := v.Path()
		if len(path) < len(prefix) || path[:len(prefix)] != prefix {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return fmt.Errorf("def: reading proxy variable %s: %w", path, err)
		}
		clone, err := val.LocalClone()
		if err != nil {
			return err
		}
		if old := gen.Store.GetVariable(path); old != nil {
			if err := old.SetValue(clone); err != nil {
				return err
			}
			continue
		}
		nv, err := gen.Store.CreateVariable(path, clone)
		if err != nil {
			return fmt.Errorf("def: copying proxy variable %s: %w", path, err)
		}
		nv.SetTrainable(false)
	}
	return nil
}

// Step compiles the DEF training step through executor px (the learned *proxy.Proxy, whose
// weights AttachProxy put in the generator's store under proxy.Scope, or the weightless *Exact).
// Its inputs are a batch's Src, SrcLen, DecIn, Tgt followed by the random inputs [B,K,3], the
// reference outputs on them [B,K], λ and τ (float32 scalars, so schedules need no
// recompilation). It reports the loss, the CE part and the MSE part.
func Step(gen *seq2seq.Generator, px Executor, opt optimizer.Interface, straightThrough bool) (*trainer.Step, error) {
	return trainer.NewStep(gen.Backend, gen.Store, "/"+seq2seq.Scope, opt, "def",
		func(root *model.Scope, in []*Node) (*Node, []*Node) {
			_, ce, mse := terms(root, gen, px, straightThrough, in[0], in[1], in[2], in[3], in[4], in[5], in[7])
			return Add(ce, Mul(in[6], mse)), []*Node{ce, mse}
		})
}

// terms builds DEF's two terms from a batch (Src, SrcLen, DecIn, Tgt), the random inputs, the
// reference outputs and τ: the teacher-forced logits, CE, and the MSE of executor px on the
// Gumbel-softmax program read up to the reference's EOS.
func terms(root *model.Scope, gen *seq2seq.Generator, px Executor, straightThrough bool,
	src, srcLen, decIn, tgt, inputs, truth, tau *Node) (logits, ce, mse *Node) {
	logits = gen.Logits(root.In(seq2seq.Scope), src, srcLen, decIn)
	ce = seq2seq.CrossEntropy(logits, tgt)
	soft := GumbelSoftmax(root.In("gumbel"), logits, tau, straightThrough)
	lengths := ReduceSum(ConvertDType(NotEqual(tgt, ScalarZero(tgt.Graph(), tgt.DType())), dtypes.Int32), -1)
	pred := px.Predict(root.In(proxy.Scope), soft, lengths, inputs)
	mse = ReduceAllMean(Square(Sub(pred, truth)))
	return logits, ce, mse
}

// TermNorms are the L2 norms, over a batch, of the gradients of DEF's two terms with respect to
// the generator's teacher-forced logits: CE's and the MSE's (not multiplied by λ).
type TermNorms struct {
	CE  float64 `json:"ce"`
	MSE float64 `json:"mse"`
}

// TermGradients compiles what measures TermNorms on a batch through executor px, drawing the
// Gumbel noise as Step does. Its inputs are Step's without λ: Src, SrcLen, DecIn, Tgt, the random
// inputs, the reference outputs and τ.
func TermGradients(gen *seq2seq.Generator, px Executor, straightThrough bool) (func(in ...any) (TermNorms, error), error) {
	exec, err := trainer.NewExec(gen.Backend, gen.Store, "def-term-gradients", func(root *model.Scope, in []*Node) []*Node {
		logits, ce, mse := terms(root, gen, px, straightThrough, in[0], in[1], in[2], in[3], in[4], in[5], in[6])
		norm := func(x *Node) *Node { return Sqrt(ReduceAllSum(Square(Gradient(x, logits)[0]))) }
		return []*Node{norm(ce), norm(mse)}
	})
	if err != nil {
		return nil, err
	}
	return func(in ...any) (TermNorms, error) {
		res, err := exec.Call(in...)
		if err != nil {
			return TermNorms{}, err
		}
		return TermNorms{CE: float64(tensors.ToScalar[float32](res[0])), MSE: float64(tensors.ToScalar[float32](res[1]))}, nil
	}, nil
}

// Hyper makes a float32 scalar tensor, for λ and τ.
func Hyper(v float64) *tensors.Tensor { return tensors.FromScalar(float32(v)) }

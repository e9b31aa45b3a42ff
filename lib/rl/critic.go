package rl

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/gru"
	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/lib/trainer"
	"github.com/execfeed/execfeed/sandbox"
)

// CriticNet is the network behind seed 004's critic (section 4.6) and PPO's value function: a GRU
// reads the description, and a second GRU, started from its final state, reads the program token
// by token, giving one hidden state h_t per program token (h_t has seen w_1..w_t and D).
//
// Its heads are small linear layers over h_t: Classes gives the per-token outcome distribution
// v_t = softmax(Linear(h_t)) and the pooled distribution softmax(Linear(mean_t h_t)) of
// section 4.6; Values gives a scalar per token for PPO.
type CriticNet struct {
	Gen          *seq2seq.Model // vocabularies and lengths of the generator it judges
	Emb, Hidden  int
	Scope        string // where its weights live in the store, e.g. "critic"
	NumClasses   int
	classPerTok  *model.Exec
	classStep    *trainer.Step
	valueStep    *trainer.Step
	valuePredict *model.Exec
}

// NewCriticNet returns a critic network of the given sizes under scope.
func NewCriticNet(gen *seq2seq.Model, scope string, emb, hidden int) *CriticNet {
	return &CriticNet{Gen: gen, Emb: emb, Hidden: hidden, Scope: scope, NumClasses: sandbox.NumOutcomeClasses}
}

// States returns the hidden states [B,T,H] after each program token of toks [B,T] (positions past
// a program's length are computed but must be masked by the caller).
func (c *CriticNet) States(scope *model.Scope, src, srcLen, toks *Node) *Node {
	g := src.Graph()
	enc := scope.In("description")
	xs := seq2seq.EmbedSteps(enc.In("embed"), src, c.Gen.Src.Size(), c.Emb)
	_, h := gru.New(enc.In("gru"), g, c.Emb, c.Hidden).Run(xs, nil, srcLen)
	prog := scope.In("program")
	ys := seq2seq.EmbedSteps(prog.In("embed"), toks, c.Gen.Tgt.Size(), c.Emb)
	states, _ := gru.New(prog.In("gru"), g, c.Emb, c.Hidden).Run(ys, h, nil)
	return Stack(states, 1)
}

// Classes returns the per-token outcome logits [B,T,K] and the pooled (masked mean of the states)
// sequence logits [B,K].
func (c *CriticNet) Classes(scope *model.Scope, src, srcLen, toks, mask *Node) (perToken, pooled *Node) {
	h := c.States(scope, src, srcLen, toks)
	perToken = seq2seq.Linear(scope.In("token_head"), h, c.NumClasses)
	m := ExpandAxes(mask, -1)
	hPool := Div(ReduceSum(Mul(h, m), 1), MaxScalar(ReduceSum(m, 1), 1))
	pooled = seq2seq.Linear(scope.In("pooled_head"), hPool, c.NumClasses)
	return perToken, pooled
}

// Values returns a scalar value per position [B,T] (PPO's V(s_t) when toks is the decoder input,
// i.e. the state before token t is chosen).
func (c *CriticNet) Values(scope *model.Scope, src, srcLen, toks *Node) *Node {
	h := c.States(scope, src, srcLen, toks)
	return Squeeze(seq2seq.Linear(scope.In("value_head"), h, 1), -1)
}

// criticLoss is the critic's negative log-likelihood of the true outcome class u [B] (section 4.6),
// for the pooled head and for every token's head, averaged over real rows (valid [B]):
//
//	L = -(1/N) Σ_rows [log p_pool(u) + (1/|W|) Σ_t log v_t(u)]
func (c *CriticNet) criticLoss(scope *model.Scope, in []*Node) (*Node, []*Node) {
	src, srcLen, toks, mask, class, valid := in[0], in[1], in[2], in[3], in[4], in[5]
	perTok, pooled := c.Classes(scope.In("%s", c.Scope), src, srcLen, toks, mask)
	onehot := OneHot(class, c.NumClasses, dtypes.Float32)
	n := MaxScalar(ReduceAllSum(valid), 1)
	poolNLL := Neg(ReduceSum(Mul(LogSoftmax(pooled, -1), onehot), -1))               // [B]
	tokNLL := Neg(ReduceSum(Mul(LogSoftmax(perTok, -1), ExpandAxes(onehot, 1)), -1)) // [B,T]
	tokNLL = Div(ReduceSum(Mul(tokNLL, mask), -1), MaxScalar(ReduceSum(mask, -1), 1))
	loss := Div(ReduceAllSum(Mul(Add(poolNLL, tokNLL), valid)), n)
	right := ConvertDType(Equal(ConvertDType(ArgMax(pooled, -1), dtypes.Int32), class), dtypes.Float32)
	return loss, []*Node{Div(ReduceAllSum(Mul(right, valid)), n)}
}

// classInputs are a rollout's critic inputs: descriptions, program tokens, mask, true classes and
// row validity.
func classInputs(ro *Rollout) []any {
	B := len(ro.Rows)
	class, valid := make([]int32, B), make([]float32, B)
	for r := range ro.N {
		class[r] = int32(ro.Results[r].Outcome.Class())
		valid[r] = 1
	}
	_, tgt, mask := ro.Sequences()
	return []any{ro.Batch.Src, ro.Batch.SrcLen, tgt, mask,
		tensors.FromFlatDataAndDimensions(class, B), tensors.FromFlatDataAndDimensions(valid, B)}
}

// TrainClasses runs one critic update on an executed rollout (Algorithm 1, lines 32-33) and returns
// the loss and the pooled head's accuracy on the rollout before the update.
func (c *CriticNet) TrainClasses(p *Policy, ro *Rollout, lr float64) (loss, accuracy float64, err error) {
	if ro.Results == nil {
		return 0, 0, fmt.Errorf("rl: critic: rollout not executed")
	}
	if c.classStep == nil {
		opt := optimizer.Adam().LearningRate(lr).Done()
		if c.classStep, err = trainer.NewStep(p.Backend, p.Store, "/"+c.Scope, opt, c.Scope, c.criticLoss); err != nil {
			return 0, 0, err
		}
	}
	vals, err := c.classStep.Run(classInputs(ro)...)
	if err != nil {
		return 0, 0, err
	}
	return vals[0], vals[1], nil
}

// PredictClasses returns the critic's per-token outcome probabilities [B][T][K] and pooled
// probabilities [B][K] for a rollout's programs, flattened.
func (c *CriticNet) PredictClasses(p *Policy, ro *Rollout) (perToken, pooled []float32, err error) {
	if c.classPerTok == nil {
		c.classPerTok, err = trainer.NewExec(p.Backend, p.Store, c.Scope, func(root *model.Scope, in []*Node) []*Node {
			tok, pool := c.Classes(root.In("%s", c.Scope), in[0], in[1], in[2], in[3])
			return []*Node{Softmax(tok, -1), Softmax(pool, -1)}
		})
		if err != nil {
			return nil, nil, err
		}
	}
	_, tgt, mask := ro.Sequences()
	res, err := c.classPerTok.Call(ro.Batch.Src, ro.Batch.SrcLen, tgt, mask)
	if err != nil {
		return nil, nil, fmt.Errorf("rl: critic: %w", err)
	}
	perToken, pooled = tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1])
	res[0].FinalizeAll()
	res[1].FinalizeAll()
	return perToken, pooled, nil
}

// valueLoss is PPO's value regression ½ (V(s_t) - R_t)² summed over a program's tokens and averaged
// over programs; in: src, srcLen, decIn, returns [B,T], mask.
func (c *CriticNet) valueLoss(scope *model.Scope, in []*Node) (*Node, []*Node) {
	v := c.Values(scope.In("%s", c.Scope), in[0], in[1], in[2])
	d := Sub(v, in[3])
	return MulScalar(perProgram(Mul(d, d), in[4]), 0.5), nil
}

// TrainValues runs one value-function update towards returns [B*T].
func (c *CriticNet) TrainValues(p *Policy, ro *Rollout, returns []float32, lr float64) (float64, error) {
	var err error
	if c.valueStep == nil {
		opt := optimizer.Adam().LearningRate(lr).Done()
		if c.valueStep, err = trainer.NewStep(p.Backend, p.Store, "/"+c.Scope, opt, c.Scope, c.valueLoss); err != nil {
			return 0, err
		}
	}
	decIn, _, mask := ro.Sequences()
	vals, err := c.valueStep.Run(ro.Batch.Src, ro.Batch.SrcLen, decIn,
		tensors.FromFlatDataAndDimensions(returns, len(ro.Rows), ro.T), mask)
	if err != nil {
		return 0, err
	}
	return vals[0], nil
}

// PredictValues returns V(s_t) [B*T] for a rollout's programs.
func (c *CriticNet) PredictValues(p *Policy, ro *Rollout) ([]float32, error) {
	if c.valuePredict == nil {
		exec, err := trainer.NewExec(p.Backend, p.Store, c.Scope, func(root *model.Scope, in []*Node) []*Node {
			return []*Node{c.Values(root.In("%s", c.Scope), in[0], in[1], in[2])}
		})
		if err != nil {
			return nil, err
		}
		c.valuePredict = exec
	}
	decIn, _, _ := ro.Sequences()
	res, err := c.valuePredict.Call(ro.Batch.Src, ro.Batch.SrcLen, decIn)
	if err != nil {
		return nil, fmt.Errorf("rl: value: %w", err)
	}
	out := tensors.MustCopyFlatData[float32](res[0])
	res[0].FinalizeAll()
	return out, nil
}

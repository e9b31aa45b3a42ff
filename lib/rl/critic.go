package rl

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/gru"
	"github.com/execfeed/execfeed/lib/nn"
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
	// Policy is the policy whose programs it judges: it encodes the prompts (PromptIDs), and its
	// store holds the critic's weights.
	Policy      Policy
	Emb, Hidden int
	Scope       string // where its weights live in the store, e.g. "critic"
	NumClasses  int
	// Balanced weights the classes of a batch equally in the outcome loss (criticWeights), so
	// that rare outcomes (compile and runtime errors) are not drowned by the majority class.
	Balanced     bool
	classPerTok  *model.Exec
	classStep    *trainer.Step
	valueStep    *trainer.Step
	valuePredict *model.Exec
	promptVocab  int
}

// NewCriticNet returns a critic network of the given sizes under scope of pol's store.
func NewCriticNet(pol Policy, scope string, emb, hidden int) *CriticNet {
	return &CriticNet{Policy: pol, Emb: emb, Hidden: hidden, Scope: scope, NumClasses: sandbox.NumOutcomeClasses}
}

// States returns the hidden states [B,T,H] after each program token of toks [B,T] (positions past
// a program's length are computed but must be masked by the caller).
func (c *CriticNet) States(scope *model.Scope, src, srcLen, toks *Node) *Node {
	g := src.Graph()
	enc := scope.In("description")
	xs := nn.EmbedSteps(enc.In("embed"), src, c.promptVocab, c.Emb)
	_, h := gru.New(enc.In("gru"), g, c.Emb, c.Hidden).Run(xs, nil, srcLen)
	prog := scope.In("program")
	ys := nn.EmbedSteps(prog.In("embed"), toks, c.Policy.VocabSize(), c.Emb)
	states, _ := gru.New(prog.In("gru"), g, c.Emb, c.Hidden).Run(ys, h, nil)
	return Stack(states, 1)
}

// Classes returns the per-token outcome logits [B,T,K] and the pooled (masked mean of the states)
// sequence logits [B,K].
func (c *CriticNet) Classes(scope *model.Scope, src, srcLen, toks, mask *Node) (perToken, pooled *Node) {
	h := c.States(scope, src, srcLen, toks)
	perToken = nn.Linear(scope.In("token_head"), h, c.NumClasses)
	m := ExpandAxes(mask, -1)
	hPool := Div(ReduceSum(Mul(h, m), 1), MaxScalar(ReduceSum(m, 1), 1))
	pooled = nn.Linear(scope.In("pooled_head"), hPool, c.NumClasses)
	return perToken, pooled
}

// Values returns a scalar value per position [B,T] (PPO's V(s_t) when toks is the decoder input,
// i.e. the state before token t is chosen).
func (c *CriticNet) Values(scope *model.Scope, src, srcLen, toks *Node) *Node {
	h := c.States(scope, src, srcLen, toks)
	return Squeeze(nn.Linear(scope.In("value_head"), h, 1), -1)
}

// criticLoss is the critic's negative log-likelihood of the true outcome class u [B] (section 4.6),
// for the pooled head and for every token's head, weighted over real rows (valid [B]) by
// criticWeights ω_r, which sum to 1:
//
//	L = -Σ_rows ω_r [log p_pool(u_r) + (1/|W_r|) Σ_t log v_t(u_r)]
func (c *CriticNet) criticLoss(scope *model.Scope, in []*Node) (*Node, []*Node) {
	src, srcLen, toks, mask, class, valid := in[0], in[1], in[2], in[3], in[4], in[5]
	perTok, pooled := c.Classes(scope.In("%s", c.Scope), src, srcLen, toks, mask)
	onehot := OneHot(class, c.NumClasses, dtypes.Float32)
	poolNLL := Neg(ReduceSum(Mul(LogSoftmax(pooled, -1), onehot), -1))               // [B]
	tokNLL := Neg(ReduceSum(Mul(LogSoftmax(perTok, -1), ExpandAxes(onehot, 1)), -1)) // [B,T]
	tokNLL = Div(ReduceSum(Mul(tokNLL, mask), -1), MaxScalar(ReduceSum(mask, -1), 1))
	loss := ReduceAllSum(Mul(Add(poolNLL, tokNLL), criticWeights(onehot, valid, c.Balanced)))
	right := ConvertDType(Equal(ConvertDType(ArgMax(pooled, -1), dtypes.Int32), class), dtypes.Float32)
	return loss, []*Node{Div(ReduceAllSum(Mul(right, valid)), MaxScalar(ReduceAllSum(valid), 1))}
}

// criticWeights are the rows' weights ω [B] in the critic's loss, given the one-hot true classes
// [B,K] and the row validity [B]. Plain: every real row counts the same, ω_r = 1/N. Balanced:
// every class present in the batch counts the same, ω_r = 1/(C·n_{u_r}), where n_k is the number
// of real rows of class k and C the number of classes present - a batch of 60 passes and 4
// compile errors gives each compile error 15 times a pass's weight.
func criticWeights(onehot, valid *Node, balanced bool) *Node {
	if !balanced {
		return Div(valid, MaxScalar(ReduceAllSum(valid), 1))
	}
	counts := ReduceSum(Mul(onehot, ExpandAxes(valid, -1)), 0)                                    // n_k [K]
	present := ReduceAllSum(ConvertDType(GreaterThan(counts, ZerosLike(counts)), dtypes.Float32)) // C
	rowCount := ReduceSum(Mul(onehot, ExpandAxes(counts, 0)), -1)                                 // n_{u_r} [B]
	return Div(valid, MaxScalar(Mul(rowCount, present), 1))
}

// prompts encodes a rollout's prompts for the critic: ids [B,S] and lengths [B].
func (c *CriticNet) prompts(ro *Rollout) (src, srcLen *tensors.Tensor, err error) {
	ids, lens, width, vocab, err := c.Policy.PromptIDs(ro.Task.Texts(ro.Rows))
	if err != nil {
		return nil, nil, fmt.Errorf("rl: critic: %w", err)
	}
	if c.promptVocab == 0 {
		c.promptVocab = vocab
	} else if vocab != c.promptVocab {
		return nil, nil, fmt.Errorf("rl: critic: prompt vocabulary changed from %d to %d ids", c.promptVocab, vocab)
	}
	B := len(ro.Rows)
	return tensors.FromFlatDataAndDimensions(ids, B, width), tensors.FromFlatDataAndDimensions(lens, B), nil
}

// programs are a rollout's token rows and mask as tensors [B,T].
func programs(ro *Rollout) (toks, mask *tensors.Tensor, err error) {
	m, err := ro.Mask()
	if err != nil {
		return nil, nil, fmt.Errorf("rl: critic: %w", err)
	}
	B, T := len(ro.Rows), ro.T
	return tensors.FromFlatDataAndDimensions(ro.Tokens, B, T), tensors.FromFlatDataAndDimensions(m, B, T), nil
}

// decoderInputs are a rollout's token rows shifted right by one position, [B,T]: the program so
// far before each token is chosen (PPO's state s_t). The first position holds the prompt's
// marker 0.
func decoderInputs(ro *Rollout) *tensors.Tensor {
	B, T := len(ro.Rows), ro.T
	in := make([]int32, B*T)
	for r := range B {
		in[r*T] = shiftMarker
		copy(in[r*T+1:(r+1)*T], ro.Tokens[r*T:(r+1)*T-1])
	}
	return tensors.FromFlatDataAndDimensions(in, B, T)
}

// shiftMarker is the id before a program's first token in the value network's input (the GRU
// vocabularies' BOS).
const shiftMarker = 1

// classInputs are a rollout's critic inputs: prompts, program tokens, mask, true classes and
// row validity.
func (c *CriticNet) classInputs(ro *Rollout) ([]any, error) {
	B := len(ro.Rows)
	class, valid := make([]int32, B), make([]float32, B)
	for r := range ro.N {
		class[r] = int32(ro.Results[r].Outcome.Class())
		valid[r] = 1
	}
	src, srcLen, err := c.prompts(ro)
	if err != nil {
		return nil, err
	}
	toks, mask, err := programs(ro)
	if err != nil {
		return nil, err
	}
	return []any{src, srcLen, toks, mask,
		tensors.FromFlatDataAndDimensions(class, B), tensors.FromFlatDataAndDimensions(valid, B)}, nil
}

// TrainClasses runs one critic update on an executed rollout (Algorithm 1, lines 32-33) and returns
// the loss and the pooled head's accuracy on the rollout before the update.
func (c *CriticNet) TrainClasses(ro *Rollout, lr float64) (loss, accuracy float64, err error) {
	if ro.Results == nil {
		return 0, 0, fmt.Errorf("rl: critic: rollout not executed")
	}
	in, err := c.classInputs(ro)
	if err != nil {
		return 0, 0, err
	}
	if c.classStep == nil {
		opt := optimizer.Adam().LearningRate(lr).Done()
		if c.classStep, err = trainer.NewStep(c.Policy.Backend(), c.Policy.Store(), "/"+c.Scope, opt, c.Scope, c.criticLoss); err != nil {
			return 0, 0, err
		}
	}
	vals, err := c.classStep.Run(in...)
	if err != nil {
		return 0, 0, err
	}
	return vals[0], vals[1], nil
}

// PredictClasses returns the critic's per-token outcome probabilities [B][T][K] and pooled
// probabilities [B][K] for a rollout's programs, flattened.
func (c *CriticNet) PredictClasses(ro *Rollout) (perToken, pooled []float32, err error) {
	src, srcLen, err := c.prompts(ro)
	if err != nil {
		return nil, nil, err
	}
	if c.classPerTok == nil {
		c.classPerTok, err = trainer.NewExec(c.Policy.Backend(), c.Policy.Store(), c.Scope, func(root *model.Scope, in []*Node) []*Node {
			tok, pool := c.Classes(root.In("%s", c.Scope), in[0], in[1], in[2], in[3])
			return []*Node{Softmax(tok, -1), Softmax(pool, -1)}
		})
		if err != nil {
			return nil, nil, err
		}
	}
	toks, mask, err := programs(ro)
	if err != nil {
		return nil, nil, err
	}
	res, err := c.classPerTok.Call(src, srcLen, toks, mask)
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
func (c *CriticNet) TrainValues(ro *Rollout, returns []float32, lr float64) (float64, error) {
	src, srcLen, err := c.prompts(ro)
	if err != nil {
		return 0, err
	}
	if c.valueStep == nil {
		opt := optimizer.Adam().LearningRate(lr).Done()
		if c.valueStep, err = trainer.NewStep(c.Policy.Backend(), c.Policy.Store(), "/"+c.Scope, opt, c.Scope, c.valueLoss); err != nil {
			return 0, err
		}
	}
	_, mask, err := programs(ro)
	if err != nil {
		return 0, err
	}
	vals, err := c.valueStep.Run(src, srcLen, decoderInputs(ro),
		tensors.FromFlatDataAndDimensions(returns, len(ro.Rows), ro.T), mask)
	if err != nil {
		return 0, err
	}
	return vals[0], nil
}

// PredictValues returns V(s_t) [B*T] for a rollout's programs.
func (c *CriticNet) PredictValues(ro *Rollout) ([]float32, error) {
	src, srcLen, err := c.prompts(ro)
	if err != nil {
		return nil, err
	}
	if c.valuePredict == nil {
		exec, err := trainer.NewExec(c.Policy.Backend(), c.Policy.Store(), c.Scope, func(root *model.Scope, in []*Node) []*Node {
			return []*Node{c.Values(root.In("%s", c.Scope), in[0], in[1], in[2])}
		})
		if err != nil {
			return nil, err
		}
		c.valuePredict = exec
	}
	res, err := c.valuePredict.Call(src, srcLen, decoderInputs(ro))
	if err != nil {
		return nil, fmt.Errorf("rl: value: %w", err)
	}
	out := tensors.MustCopyFlatData[float32](res[0])
	res[0].FinalizeAll()
	return out, nil
}

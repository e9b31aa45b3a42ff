package def

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/seq2seq"
)

// Executor is what DEF trains through: a differentiable map from programs given as token
// distributions dist [B,T,V] (one-hot rows for a real program, soft rows for the generator's
// Gumbel-softmax tokens), read up to lengths [B] (int32, through EOS), and input triples
// inputs [B,K,3] (a, b, c) to outputs [B,K]. The learned proxy (*proxy.Proxy) and the exact
// soft stack machine (*Exact) are both Executors.
type Executor interface {
	Predict(scope *model.Scope, dist, lengths, inputs *Node) *Node
}

// Exact is an exact differentiable executor of basic RPN (a b c, 0-9, + - *): a soft stack
// machine with no weights, no training and no error floor.
//
// The stack is a vector S of D = T slots, top first, zero below the bottom. Position t reads its
// token distribution p_t and moves to the mixture of what every token would do:
//
//	S'[0]  = Σ_{v push} p_t(v)·val(v)  +  p_t(+)·(S[1]+S[0]) + p_t(-)·(S[1]-S[0]) + p_t(*)·S[1]·S[0]  +  p_t(nop)·S[0]
//	S'[i]  = P_push·S[i-1]  +  P_op·S[i+1]  +  p_t(nop)·S[i]                              (i ≥ 1)
//
// where val(v) is the input value of a variable or the constant's digit, P_push and P_op are the
// total probabilities of the push tokens and of the operators, and "nop" is the special tokens
// (PAD, BOS, EOS, UNK), which leave the stack alone. Positions from the EOS on (t ≥ length-1) are
// skipped, and the output is S[0] after the last program position.
//
// On one-hot rows every mixture has one term, so the output is exactly the interpreter's (a
// malformed program reads zeros below the bottom instead of failing). On soft rows the update is
// affine in the stack for push, +, - and nop, so S is the expected stack under independent token
// choices at each position, and the output the expected output, as long as every * multiplies
// independent operands. They are independent when each position's mass is on tokens of one arity
// (push or operator): then the program's tree shape is fixed and the two operands of a * come
// from disjoint positions. A position of uncertain arity shifts the whole stack, which correlates
// the slots below it; a later * then multiplies the operands' means, E[S1]·E[S0], where the
// expectation is E[S1·S0] (a mean-field step). The relaxation is smooth either way and its
// gradient is its own exact gradient (tested against finite differences). A single-token change
// that keeps a program well formed keeps every arity, so along those directions (the ones
// GradientQuality measures) the gradient is exactly the interpreter's finite difference.
type Exact struct {
	Vocab *seq2seq.Vocab
	// classes[v] is the role of token id v; value[v] a constant's value; variable[v] 0-2 for a, b, c.
	classes  []int
	value    []float64
	variable []int
}

// Token roles of the exact executor.
const (
	roleNop = iota
	rolePush
	rolePlus
	roleMinus
	roleTimes
	numRoles
)

// NewExact makes the exact executor for a program vocabulary of the basic dialect. A vocabulary
// with another program token (rpn-ext's "/", "dup", "swap") is an error: integer division has no
// smooth relaxation that is exact on one-hot programs, and the stack words are not implemented.
func NewExact(vocab *seq2seq.Vocab, d rpn.Dialect) (*Exact, error) {
	if d != rpn.Basic {
		return nil, fmt.Errorf("def: the exact executor supports the basic dialect only, not %s", d)
	}
	V := vocab.Size()
	e := &Exact{Vocab: vocab, classes: make([]int, V), value: make([]float64, V), variable: make([]int, V)}
	for id, tok := range vocab.Tokens {
		e.variable[id] = -1
		if id < 4 { // PAD, BOS, EOS, UNK
			e.classes[id] = roleNop
			continue
		}
		switch {
		case tok == "+":
			e.classes[id] = rolePlus
		case tok == "-":
			e.classes[id] = roleMinus
		case tok == "*":
			e.classes[id] = roleTimes
		case tok == "a" || tok == "b" || tok == "c":
			e.classes[id], e.variable[id] = rolePush, int(tok[0]-'a')
		case len(tok) == 1 && tok[0] >= '0' && tok[0] <= '9':
			e.classes[id], e.value[id] = rolePush, float64(tok[0]-'0')
		default:
			return nil, fmt.Errorf("def: the exact executor does not know program token %q", tok)
		}
	}
	return e, nil
}

// Predict runs the soft stack machine: outputs [B,K] of programs dist [B,T,V] read up to lengths
// [B] (through EOS) on inputs [B,K,3]. It has no weights; scope is unused. The arithmetic is in
// dist's dtype.
func (e *Exact) Predict(_ *model.Scope, dist, lengths, inputs *Node) *Node {
	g := dist.Graph()
	dt := dist.DType()
	B, T, V := dist.Shape().Dim(0), dist.Shape().Dim(1), dist.Shape().Dim(2)
	K := inputs.Shape().Dim(1)
	if V != len(e.classes) {
		panic(fmt.Sprintf("def: exact executor for %d tokens got distributions over %d", len(e.classes), V))
	}
	// Per-token constants: the value a push token pushes is variables·inputs + constant.
	sel := make([]float64, 3*V)          // [3,V]: a, b, c selectors
	roles := make([]float64, V*numRoles) // [V,roles] one-hot role of every token
	for v := range V {
		if e.variable[v] >= 0 {
			sel[e.variable[v]*V+v] = 1
		}
		roles[v*numRoles+e.classes[v]] = 1
	}
	selN := Reshape(ConstAsDType(g, dt, sel), 3, V)
	rolesN := Reshape(ConstAsDType(g, dt, roles), V, numRoles)
	constN := ConstAsDType(g, dt, e.value) // [V]
	in := ConvertDType(inputs, dt)
	values := Add(Einsum("bkj,jv->bkv", in, selN), BroadcastToDims(Reshape(constN, 1, 1, V), B, K, V)) // [B,K,V]
	pushVal := Einsum("btv,bkv->bkt", dist, values)                                                    // [B,K,T]
	probs := Einsum("btv,vr->btr", dist, rolesN)                                                       // [B,T,roles]
	// active[b,t] = t < lengths[b]-1: the program's own tokens, not its EOS or padding.
	pos := Iota(g, shapes.Make(dtypes.Int32, B, T), 1)
	last := BroadcastToDims(ExpandAxes(Sub(ConvertDType(lengths, dtypes.Int32), ScalarOne(g, dtypes.Int32)), 1), B, T)
	active := ConvertDType(LessThan(pos, last), dt) // [B,T]

	D := T
	S := Zeros(g, shapes.Make(dt, B, K, D))
	zero := Zeros(g, shapes.Make(dt, B, K, 1))
	role := func(t, r int) *Node { // [B,1,1]
		return Reshape(Slice(probs, AxisRange(), AxisElem(t), AxisElem(r)), B, 1, 1)
	}
	for t := range T {
		pPush, pPlus, pMinus, pTimes, pNop := role(t, rolePush), role(t, rolePlus), role(t, roleMinus), role(t, roleTimes), role(t, roleNop)
		pOp := Add(Add(pPlus, pMinus), pTimes)
		s0 := Slice(S, AxisRange(), AxisRange(), AxisRange(0, 1))
		s1 := Slice(S, AxisRange(), AxisRange(), AxisRange(1, 2))
		head := Add(Slice(pushVal, AxisRange(), AxisRange(), AxisRange(t, t+1)),
			Add(Add(Mul(pPlus, Add(s1, s0)), Mul(pMinus, Sub(s1, s0))), Add(Mul(pTimes, Mul(s1, s0)), Mul(pNop, s0))))
		below := Slice(S, AxisRange(), AxisRange(), AxisRange(0, D-1))                               // S[i-1] for i ≥ 1
		above := Concatenate([]*Node{Slice(S, AxisRange(), AxisRange(), AxisRange(2, D)), zero}, -1) // S[i+1] for i ≥ 1
		same := Slice(S, AxisRange(), AxisRange(), AxisRange(1, D))
		tail := Add(Add(Mul(pPush, below), Mul(pOp, above)), Mul(pNop, same))
		next := Concatenate([]*Node{head, tail}, -1)
		a := Reshape(Slice(active, AxisRange(), AxisElem(t)), B, 1, 1)
		S = Add(Mul(a, next), Mul(OneMinus(a), S))
	}
	return Reshape(Slice(S, AxisRange(), AxisRange(), AxisRange(0, 1)), B, K)
}

// Package gru implements the Gated Recurrent Unit (Cho et al., 2014) for GoMLX, which has an LSTM
// but no GRU layer.
//
// A GRU keeps one hidden state h and updates it with two gates: the reset gate r decides how much
// of h feeds the candidate state n, the update gate z how much of h survives:
//
//	r = σ(W_r x + b_ir + U_r h + b_hr)
//	z = σ(W_z x + b_iz + U_z h + b_hz)
//	n = tanh(W_n x + b_in + r ⊙ (U_n h + b_hn))
//	h' = (1 - z) ⊙ n + z ⊙ h
//
// This is PyTorch's convention (the reset gate applies after the recurrent product), so weights
// and timings compare one to one with torch.nn.GRU. The input projections W x of all time steps are
// computed in one matrix product before the recurrence; each step then needs one [B,H]x[H,3H]
// product. GoMLX graphs have no loops: the recurrence is unrolled, one set of nodes per step.
package gru

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// GRU holds the weights of one GRU layer, created in (or reused from) a scope. The variables are
// W [in,3H], U [H,3H], bW [3H], bU [3H] with the gates in the order r, z, n (PyTorch's layout);
// they are split per gate once per graph, so each step is six small matrix products and no
// activation is ever sliced (slicing and its gradient, a zero-padded copy, dominated the step).
type GRU struct {
	InputSize, HiddenSize int
	w, u, bw, bu          [3]*Node // per gate: [in,H], [H,H], [1,H], [1,H]
}

// New creates (or reuses) the variables of a GRU layer in scope and returns it for graph g.
// Weights are initialised uniformly in ±1/sqrt(hidden), as in PyTorch.
func New(scope *model.Scope, g *Graph, inputSize, hiddenSize int) *GRU {
	bound := 1 / math.Sqrt(float64(hiddenSize))
	scope = scope.WithInitializer(initializer.RandomUniformFn(scope, -bound, bound))
	H, h3 := hiddenSize, 3*hiddenSize
	w := scope.VariableWithShape("W", shapes.Make(dtypes.Float32, inputSize, h3)).NodeValue(g)
	u := scope.VariableWithShape("U", shapes.Make(dtypes.Float32, hiddenSize, h3)).NodeValue(g)
	bw := scope.VariableWithShape("bW", shapes.Make(dtypes.Float32, h3)).NodeValue(g)
	bu := scope.VariableWithShape("bU", shapes.Make(dtypes.Float32, h3)).NodeValue(g)
	l := &GRU{InputSize: inputSize, HiddenSize: hiddenSize}
	for gate := range 3 {
		cols := AxisRange(gate*H, (gate+1)*H)
		l.w[gate] = SliceAxis(w, 1, cols)
		l.u[gate] = SliceAxis(u, 1, cols)
		l.bw[gate] = Reshape(SliceAxis(bw, 0, cols), 1, H)
		l.bu[gate] = Reshape(SliceAxis(bu, 0, cols), 1, H)
	}
	return l
}

// Step advances the hidden state h [B,H] by one position with input x [B,in].
func (l *GRU) Step(x, h *Node) *Node {
	in := func(gate int) *Node { return Add(MatMul(x, l.w[gate]), l.bw[gate]) }
	rec := func(gate int) *Node { return Add(MatMul(h, l.u[gate]), l.bu[gate]) }
	r := Sigmoid(Add(in(0), rec(0)))
	z := Sigmoid(Add(in(1), rec(1)))
	n := Tanh(Add(in(2), Mul(r, rec(2))))
	return Add(n, Mul(z, Sub(h, n))) // (1-z)*n + z*h
}

// Run runs the layer over the inputs of each position, xs[t] [B,in], from h0 [B,H] (zeros if
// nil). If lengths [B] (int32) is given, positions t >= lengths[b] leave the state of row b
// unchanged, so the final state is the state after each row's last real token. It returns the
// state after every position and the final state.
func (l *GRU) Run(xs []*Node, h0, lengths *Node) (states []*Node, last *Node) {
	g := xs[0].Graph()
	B := xs[0].Shape().Dim(0)
	h := h0
	if h == nil {
		h = Zeros(g, shapes.Make(xs[0].DType(), B, l.HiddenSize))
	}
	states = make([]*Node, len(xs))
	for t, x := range xs {
		next := l.Step(x, h)
		if lengths != nil {
			// h += live * (next - h): arithmetic masking, cheaper than Where and its gradient.
			live := ConvertDType(GreaterThan(lengths, Scalar(g, lengths.DType(), t)), h.DType())
			next = Add(h, Mul(Reshape(live, B, 1), Sub(next, h)))
		}
		h = next
		states[t] = h
	}
	return states, h
}

// Sequence is Run over x [B,T,in]; it returns all states [B,T,H] and the final state [B,H].
func (l *GRU) Sequence(x, h0, lengths *Node) (all, last *Node) {
	T := x.Shape().Dim(1)
	x.AssertDims(-1, -1, l.InputSize)
	xt := TransposeAllDims(x, 1, 0, 2) // [T,B,in]: each step's slice is contiguous
	xs := make([]*Node, T)
	for t := range T {
		xs[t] = Squeeze(SliceAxis(xt, 0, AxisElem(t)), 0)
	}
	states, last := l.Run(xs, h0, lengths)
	return Stack(states, 1), last
}

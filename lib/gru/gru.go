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

// GRU holds the weights of one GRU layer, created in (or reused from) a scope.
type GRU struct {
	InputSize, HiddenSize int
	w, u, bw, bu          *Node // [in,3H], [H,3H], [3H], [3H]
}

// New creates (or reuses) the variables of a GRU layer in scope and returns it for graph g.
// Weights are initialised uniformly in ±1/sqrt(hidden), as in PyTorch.
func New(scope *model.Scope, g *Graph, inputSize, hiddenSize int) *GRU {
	bound := 1 / math.Sqrt(float64(hiddenSize))
	scope = scope.WithInitializer(initializer.RandomUniformFn(scope, -bound, bound))
	h3 := 3 * hiddenSize
	return &GRU{
		InputSize:  inputSize,
		HiddenSize: hiddenSize,
		w:          scope.VariableWithShape("W", shapes.Make(dtypes.Float32, inputSize, h3)).NodeValue(g),
		u:          scope.VariableWithShape("U", shapes.Make(dtypes.Float32, hiddenSize, h3)).NodeValue(g),
		bw:         scope.VariableWithShape("bW", shapes.Make(dtypes.Float32, h3)).NodeValue(g),
		bu:         scope.VariableWithShape("bU", shapes.Make(dtypes.Float32, h3)).NodeValue(g),
	}
}

// InputProjection computes W x + b_i for every position at once: x [B,T,in] -> [B,T,3H].
func (l *GRU) InputProjection(x *Node) *Node {
	x.AssertDims(-1, -1, l.InputSize)
	return Add(Einsum("bti,ij->btj", x, l.w), ExpandLeftToRank(l.bw, 3))
}

// Step advances the hidden state h [B,H] by one position whose input projection is xp [B,3H].
func (l *GRU) Step(xp, h *Node) *Node {
	H := l.HiddenSize
	hp := Add(MatMul(h, l.u), ExpandLeftToRank(l.bu, 2))
	gates := Sigmoid(Add(SliceAxis(xp, -1, AxisRange(0, 2*H)), SliceAxis(hp, -1, AxisRange(0, 2*H))))
	r := SliceAxis(gates, -1, AxisRange(0, H))
	z := SliceAxis(gates, -1, AxisRange(H, 2*H))
	n := Tanh(Add(SliceAxis(xp, -1, AxisRange(2*H, 3*H)), Mul(r, SliceAxis(hp, -1, AxisRange(2*H, 3*H)))))
	return Add(n, Mul(z, Sub(h, n))) // (1-z)*n + z*h
}

// Sequence runs the layer over x [B,T,in] from h0 [B,H] (zeros if nil). If lengths [B] (int32) is
// given, positions t >= lengths[b] leave the state of row b unchanged, so the final state is the
// state after each row's last real token. It returns all states [B,T,H] and the final state [B,H].
func (l *GRU) Sequence(x, h0, lengths *Node) (all, last *Node) {
	g := x.Graph()
	B, T := x.Shape().Dim(0), x.Shape().Dim(1)
	h := h0
	if h == nil {
		h = Zeros(g, shapes.Make(x.DType(), B, l.HiddenSize))
	}
	xp := l.InputProjection(x)
	states := make([]*Node, T)
	for t := range T {
		next := l.Step(Squeeze(SliceAxis(xp, 1, AxisElem(t)), 1), h)
		if lengths != nil {
			done := ExpandAxes(GreaterOrEqual(Scalar(g, lengths.DType(), t), lengths), -1)
			next = Where(done, h, next)
		}
		h = next
		states[t] = h
	}
	return Stack(states, 1), h
}

// Package nn holds the small layers execfeed's recurrent networks share (the generator, the
// proxy executor, the critic): embedding tables and linear layers, initialised as PyTorch does so
// that the models match their PyTorch references.
package nn

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// embeddingTable creates (or reuses) the [V,E] embedding table of scope, initialised N(0,1)
// as in PyTorch. Embed, EmbedSteps and EmbedSoft all read this one table.
func embeddingTable(scope *model.Scope, g *Graph, vocab, dim int) *Node {
	return scope.WithInitializer(initializer.RandomNormalFn(scope, 1)).
		VariableWithShape("embeddings", shapes.Make(dtypes.Float32, vocab, dim)).NodeValue(g)
}

// Embed looks token ids [B,T] up in a [V,E] table created in scope.
func Embed(scope *model.Scope, ids *Node, vocab, dim int) *Node {
	table := embeddingTable(scope, ids.Graph(), vocab, dim)
	return Gather(table, ExpandAxes(ids, -1))
}

// EmbedSteps looks token ids [B,T] up position by position and returns T embeddings [B,E]:
// the GRU consumes one position at a time, and slicing the integer ids costs nothing in the
// backward pass, unlike slicing a [B,T,E] float tensor.
func EmbedSteps(scope *model.Scope, ids *Node, vocab, dim int) []*Node {
	table := embeddingTable(scope, ids.Graph(), vocab, dim)
	B, T := ids.Shape().Dim(0), ids.Shape().Dim(1)
	out := make([]*Node, T)
	for t := range T {
		out[t] = Reshape(Gather(table, SliceAxis(ids, 1, AxisRange(t, t+1))), B, dim)
	}
	return out
}

// EmbedSoft mixes the rows of the same [V,E] table by token distributions dist [B,T,V]: a one-hot
// row gives exactly Embed's result, a soft row the expected embedding.
func EmbedSoft(scope *model.Scope, dist *Node, vocab, dim int) *Node {
	table := embeddingTable(scope, dist.Graph(), vocab, dim)
	return Einsum("btv,ve->bte", dist, table)
}

// Linear is x W + b over the last axis of x, with PyTorch's uniform ±1/sqrt(in) initialisation.
func Linear(scope *model.Scope, x *Node, out int) *Node {
	in := x.Shape().Dim(-1)
	bound := 1 / math.Sqrt(float64(in))
	scope = scope.WithInitializer(initializer.RandomUniformFn(scope, -bound, bound))
	w := scope.VariableWithShape("W", shapes.Make(x.DType(), in, out)).NodeValue(x.Graph())
	b := scope.VariableWithShape("b", shapes.Make(x.DType(), out)).NodeValue(x.Graph())
	var y *Node
	if x.Rank() == 2 {
		y = MatMul(x, w)
	} else {
		y = Einsum("bti,io->bto", x, w)
	}
	return Add(y, ExpandLeftToRank(b, y.Rank()))
}

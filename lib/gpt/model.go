// Package gpt is a decoder-only transformer of the GPT-2 architecture (Radford et al., 2019,
// "Language Models are Unsupervised Multitask Learners"): token plus learned position embeddings,
// pre-norm blocks of causal multi-head self-attention and a tanh-GELU MLP, a final LayerNorm, and
// an output layer tied to the token embedding.
//
// The weights live in a model.Store in Hugging Face's GPT-2 layout (Conv1D weights [in, out],
// q|k|v fused in c_attn), so a checkpoint directory loads and saves by renaming only (hf.go).
// This file is the forward pass; train.go holds the causal-LM loss, sample.go the key/value-cache
// sampler, policy.go the rl.Policy the execution-feedback methods train.
package gpt

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/nn"
)

// Config holds the sizes of a model (Hugging Face's GPT2Config names in comments).
type Config struct {
	Layers  int     // n_layer
	Heads   int     // n_head
	Width   int     // n_embd, divisible by Heads
	Context int     // n_positions: the longest sequence
	Vocab   int     // vocab_size
	Epsilon float64 // layer_norm_epsilon, 1e-5 in GPT-2
}

// Validate reports sizes that cannot make a model.
func (c Config) Validate() error {
	switch {
	case c.Layers < 1 || c.Heads < 1 || c.Width < 1 || c.Context < 1 || c.Vocab < 1:
		return fmt.Errorf("gpt: every size must be positive: %+v", c)
	case c.Width%c.Heads != 0:
		return fmt.Errorf("gpt: width %d is not divisible by %d heads", c.Width, c.Heads)
	case c.Epsilon <= 0:
		return fmt.Errorf("gpt: layer-norm epsilon %g must be positive", c.Epsilon)
	}
	return nil
}

// Model is a GPT-2 decoder: its sizes. Its weights live in a store, under the scope the graph
// functions are given.
type Model struct {
	Cfg Config
}

// block holds one transformer block's weights as graph nodes.
type block struct {
	ln1W, ln1B, attnW, attnB, projW, projB *Node
	ln2W, ln2B, fcW, fcB, outW, outB       *Node
}

// weights holds every weight of the model as graph nodes, read once per graph: the sampler runs
// the blocks many times in one graph.
type weights struct {
	wte, wpe, lnfW, lnfB *Node
	h                    []block
}

// variable returns the value of the variable scope/name of the given shape, created by init when
// it does not exist.
func variable(scope *model.Scope, g *Graph, name string, init initializer.VariableInitializer, dims ...int) *Node {
	return scope.WithInitializer(init).VariableWithShape(name, shapes.Make(dtypes.Float32, dims...)).NodeValue(g)
}

// weights reads (creating them with GPT-2's initialisation when missing) the model's variables
// under scope: N(0, 0.02) matrices, N(0, 0.02/sqrt(2 layers)) for the two projections into the
// residual stream, zero biases, unit LayerNorm gains. Variable paths mirror Hugging Face names
// (h0/attn/c_attn/weight is transformer.h.0.attn.c_attn.weight).
func (m *Model) weights(scope *model.Scope, g *Graph) *weights {
	c := m.Cfg
	normal := initializer.RandomNormalFn(scope, 0.02)
	resid := initializer.RandomNormalFn(scope, 0.02/math.Sqrt(2*float64(c.Layers)))
	zero, one := initializer.Zero, initializer.One
	w := &weights{
		wte:  variable(scope.At("wte"), g, "weight", normal, c.Vocab, c.Width),
		wpe:  variable(scope.At("wpe"), g, "weight", normal, c.Context, c.Width),
		lnfW: variable(scope.At("ln_f"), g, "weight", one, c.Width),
		lnfB: variable(scope.At("ln_f"), g, "bias", zero, c.Width),
	}
	for i := range c.Layers {
		s := scope.At("h%d", i)
		attn, mlp := s.At("attn"), s.At("mlp")
		w.h = append(w.h, block{
			ln1W:  variable(s.At("ln_1"), g, "weight", one, c.Width),
			ln1B:  variable(s.At("ln_1"), g, "bias", zero, c.Width),
			attnW: variable(attn.At("c_attn"), g, "weight", normal, c.Width, 3*c.Width),
			attnB: variable(attn.At("c_attn"), g, "bias", zero, 3*c.Width),
			projW: variable(attn.At("c_proj"), g, "weight", resid, c.Width, c.Width),
			projB: variable(attn.At("c_proj"), g, "bias", zero, c.Width),
			ln2W:  variable(s.At("ln_2"), g, "weight", one, c.Width),
			ln2B:  variable(s.At("ln_2"), g, "bias", zero, c.Width),
			fcW:   variable(mlp.At("c_fc"), g, "weight", normal, c.Width, 4*c.Width),
			fcB:   variable(mlp.At("c_fc"), g, "bias", zero, 4*c.Width),
			outW:  variable(mlp.At("c_proj"), g, "weight", resid, 4*c.Width, c.Width),
			outB:  variable(mlp.At("c_proj"), g, "bias", zero, c.Width),
		})
	}
	return w
}

// KV is one layer's keys and values for the positions seen so far, each [B,heads,S,headDim]:
// the cache that lets the sampler feed one new token per step.
type KV struct{ K, V *Node }

// linear is x W + b over the last axis, W in Conv1D's [in, out] layout.
func linear(x, w, b *Node) *Node {
	return nn.Dense(x, w, b, compute.DenseLayoutInputOutputs)
}

// layerNorm is (x - mean) / sqrt(var + eps) * w + b over the last axis.
func (m *Model) layerNorm(x, w, b *Node) *Node {
	return nn.LayerNorm(x, []int{x.Rank() - 1}, m.Cfg.Epsilon, w, b, nil)
}

// forward runs the decoder on token ids [B,T] at positions pos [B,T] and returns the final
// hidden states [B,T,C] (after ln_f) and each layer's keys and values including the new ones.
// past (nil or one KV per layer) holds earlier positions; bias [B,1,T,S] is added to the
// attention scores over the S = past + T keys: 0 where a query may attend, -1e9 where not.
func (m *Model) forward(w *weights, ids, pos, bias *Node, past []KV) (*Node, []KV) {
	x := Add(Gather(w.wte, ExpandAxes(ids, -1)), Gather(w.wpe, ExpandAxes(pos, -1)))
	present := make([]KV, len(w.h))
	for i, l := range w.h {
		var p *KV
		if past != nil {
			p = &past[i]
		}
		a, kv := m.attention(l, m.layerNorm(x, l.ln1W, l.ln1B), bias, p)
		x = Add(x, a)
		present[i] = kv
		x = Add(x, linear(activation.GeluApproximate(linear(m.layerNorm(x, l.ln2W, l.ln2B), l.fcW, l.fcB)), l.outW, l.outB))
	}
	return m.layerNorm(x, w.lnfW, w.lnfB), present
}

// attention is causal multi-head self-attention on x [B,T,C]:
//
//	q|k|v = x W_attn + b_attn, split into heads of C/heads
//	out   = softmax(q kᵀ / sqrt(headDim) + bias) v, heads joined, then W_proj + b_proj
//
// with the keys and values of past (if any) before the new ones.
func (m *Model) attention(l block, x, bias *Node, past *KV) (*Node, KV) {
	B, T, C := x.Shape().Dim(0), x.Shape().Dim(1), x.Shape().Dim(2)
	H := m.Cfg.Heads
	D := C / H
	// [B,T,3C] -> [3,B,H,T,D]: one transpose puts q, k and v in batched-matmul layout.
	qkv := TransposeAllAxes(Reshape(linear(x, l.attnW, l.attnB), B, T, 3, H, D), 2, 0, 3, 1, 4)
	parts := Split(qkv, 0, 3)
	q, k, v := Reshape(parts[0], B, H, T, D), Reshape(parts[1], B, H, T, D), Reshape(parts[2], B, H, T, D)
	if past != nil {
		k = Concatenate([]*Node{past.K, k}, 2)
		v = Concatenate([]*Node{past.V, v}, 2)
	}
	scores := Add(MulScalar(Einsum("bhtd,bhsd->bhts", q, k), 1/math.Sqrt(float64(D))), bias)
	out := Einsum("bhts,bhsd->bhtd", Softmax(scores, -1), v)
	out = Reshape(TransposeAllAxes(out, 0, 2, 1, 3), B, T, C)
	return linear(out, l.projW, l.projB), KV{k, v}
}

// logits maps hidden states [B,T,C] to next-token logits [B,T,V] with the token embedding
// (tied output layer).
func logits(w *weights, h *Node) *Node {
	return nn.Dense(h, w.wte, nil, compute.DenseLayoutOutputsInput)
}

// maskBias turns an attention mask (true where a query may attend) into the additive bias of
// forward: 0 or -1e9.
func maskBias(mask *Node) *Node {
	g := mask.Graph()
	return Where(mask, ScalarZero(g, dtypes.Float32), Scalar(g, dtypes.Float32, -1e9))
}

// causalMask is [1,1,T,T]: query i may attend key j when j <= i.
func causalMask(g *Graph, T int) *Node {
	i := Iota(g, shapes.Make(dtypes.Int32, 1, 1, T, T), 2)
	j := Iota(g, shapes.Make(dtypes.Int32, 1, 1, T, T), 3)
	return LessOrEqual(j, i)
}

// Logits is the teacher-forced forward pass: next-token logits [B,T,V] for token ids [B,T] at
// positions 0..T-1, every position attending to itself and the positions before it.
func (m *Model) Logits(scope *model.Scope, ids *Node) *Node {
	g := ids.Graph()
	B, T := ids.Shape().Dim(0), ids.Shape().Dim(1)
	pos := Iota(g, shapes.Make(dtypes.Int32, B, T), 1)
	w := m.weights(scope, g)
	h, _ := m.forward(w, ids, pos, maskBias(causalMask(g, T)), nil)
	return logits(w, h)
}

// leftPadded returns, for rows left-padded to width P whose real tokens number lengths [B], the
// position of every column [B,P] (0 for the padding) and which columns are real [B,P].
func leftPadded(lengths *Node, P int) (pos, real *Node) {
	g := lengths.Graph()
	B := lengths.Shape().Dim(0)
	col := Iota(g, shapes.Make(dtypes.Int32, B, P), 1)
	pad := Sub(Scalar(g, dtypes.Int32, P), Reshape(ConvertDType(lengths, dtypes.Int32), B, 1))
	return MaxScalar(Sub(col, pad), 0), GreaterOrEqual(col, pad)
}

// PromptedLogits runs prompts ids [B,P], left-padded (lengths [B] real tokens each), followed by
// a continuation cont [B,T] on every row, and returns the logits [B,T,V] that predict each token
// of cont: column t is the distribution of cont[t] given the prompt and cont[:t]. Padding is
// invisible: positions count from each row's first real token, and no query attends to it.
func (m *Model) PromptedLogits(scope *model.Scope, prompt, lengths, cont *Node) *Node {
	g := prompt.Graph()
	B, P, T := prompt.Shape().Dim(0), prompt.Shape().Dim(1), cont.Shape().Dim(1)
	ppos, real := leftPadded(lengths, P)
	cpos := Add(Iota(g, shapes.Make(dtypes.Int32, B, T-1), 1), Reshape(ConvertDType(lengths, dtypes.Int32), B, 1))
	ids := Concatenate([]*Node{prompt, Slice(cont, AxisRange(), AxisRange(0, T-1))}, 1)
	pos := Concatenate([]*Node{ppos, cpos}, 1)
	keys := Concatenate([]*Node{real, BroadcastToDims(Const(g, true), B, T-1)}, 1)
	mask := LogicalAnd(causalMask(g, P+T-1), Reshape(keys, B, 1, 1, P+T-1))
	w := m.weights(scope, g)
	h, _ := m.forward(w, ids, pos, maskBias(mask), nil)
	return logits(w, Slice(h, AxisRange(), AxisRange(P-1, P+T-1)))
}

// Package seq2seq is the GRU encoder-decoder generator of seed 000: a description is read by a GRU
// encoder, whose final state starts a GRU decoder that writes the program token by token.
//
// Training is teacher-forced cross-entropy (Logits + CrossEntropy); Decode samples or greedily
// decodes inside the graph, one unrolled step per output position, and returns the chosen tokens
// with their log-probabilities, which is what every execution-feedback method needs.
package seq2seq

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/execfeed/execfeed/lib/gru"
	"github.com/execfeed/execfeed/lib/nn"
)

// Config holds the model's sizes. Sequence lengths are fixed so that one compiled graph serves
// every batch.
type Config struct {
	Emb    int // embedding size
	Hidden int // GRU hidden size
	SrcLen int // maximum description length in words
	TgtLen int // maximum program length in tokens, including EOS
	// ReverseSource feeds the description to the encoder last word first (Sutskever et al., 2014):
	// the first words, which describe the first tokens to write, are then the freshest in the
	// encoder's final state. It only changes the data, not the network.
	ReverseSource bool
	// Attention adds Luong-style dot-product attention over the encoder states to every decoder
	// step (Luong et al., 2015, "global attention", no input feeding): the output layer reads
	// tanh(W [h_t; context_t]) instead of h_t. Without it the whole description must pass
	// through one 128-dimensional state, which caps exact match near 95% on the default data set.
	Attention bool
}

// DefaultConfig matches the PyTorch reference step (bench/torch_gru_step.py).
func DefaultConfig() Config {
	return Config{Emb: 64, Hidden: 128, SrcLen: 30, TgtLen: 16, ReverseSource: true, Attention: true}
}

// Model is a generator: its sizes and vocabularies. The weights live in a model.Store under the
// scope the graph functions are given.
type Model struct {
	Cfg      Config
	Src, Tgt *Vocab
}

// Encoder reads descriptions src [B,S] (int32 ids, PAD after srcLen [B]) and returns the encoder's
// final state [B,H].
func (m *Model) Encoder(scope *model.Scope, src, srcLen *Node) *Node {
	_, h := m.encode(scope, src, srcLen)
	return h
}

// encode returns the encoder states [B,S,H] (for attention) and the final state [B,H].
func (m *Model) encode(scope *model.Scope, src, srcLen *Node) (states, last *Node) {
	scope = scope.In("encoder")
	xs := nn.EmbedSteps(scope.In("embed"), src, m.Src.Size(), m.Cfg.Emb)
	all, h := gru.New(scope.In("gru"), src.Graph(), m.Cfg.Emb, m.Cfg.Hidden).Run(xs, nil, srcLen)
	if !m.Cfg.Attention {
		return nil, h
	}
	return Stack(all, 1), h
}

// output maps decoder states [B,T,H] to logits [B,T,V], attending over the encoder states when
// Cfg.Attention is set: score = h_t · e_s over the real source positions, context = Σ softmax · e_s.
func (m *Model) output(scope *model.Scope, states, enc, srcLen *Node) *Node {
	if m.Cfg.Attention {
		S := enc.Shape().Dim(1)
		scores := Einsum("bth,bsh->bts", states, enc)
		pos := Iota(enc.Graph(), shapes.Make(srcLen.DType(), 1, 1, S), 2)
		mask := LessThan(pos, Reshape(srcLen, -1, 1, 1)) // [B,1,S]
		mask = BroadcastToDims(mask, scores.Shape().Dimensions...)
		weights := MaskedSoftmax(scores, mask, -1)
		context := Einsum("bts,bsh->bth", weights, enc)
		states = Tanh(nn.Linear(scope.At("attention"), Concatenate([]*Node{states, context}, -1), m.Cfg.Hidden))
	}
	return nn.Linear(scope.At("out"), states, m.Tgt.Size())
}

// Logits is the teacher-forced decoder: given the encoder input and the decoder input decIn [B,T]
// (BOS followed by the reference program), it returns next-token logits [B,T,V].
func (m *Model) Logits(scope *model.Scope, src, srcLen, decIn *Node) *Node {
	enc, h := m.encode(scope, src, srcLen)
	dec := scope.In("decoder")
	xs := nn.EmbedSteps(dec.In("embed"), decIn, m.Tgt.Size(), m.Cfg.Emb)
	states, _ := gru.New(dec.In("gru"), src.Graph(), m.Cfg.Emb, m.Cfg.Hidden).Run(xs, h, nil)
	return m.output(dec, Stack(states, 1), enc, srcLen)
}

// Decode writes programs without teacher forcing, TgtLen tokens each. With sample false it is
// greedy; otherwise each token is drawn from softmax(logits / temperature) with the Gumbel-max
// trick, using the store's random number generator (deterministic by seed). It returns the tokens
// [B,T] (int32; a program ends at its first EOS) and the log-probabilities of all tokens
// [B,T,V] under the model (temperature 1), for policy gradients and critics.
func (m *Model) Decode(scope *model.Scope, src, srcLen, temperature *Node, sample bool) (tokens, logProbs *Node) {
	g := src.Graph()
	B, T, V := src.Shape().Dim(0), m.Cfg.TgtLen, m.Tgt.Size()
	enc, h := m.encode(scope, src, srcLen)
	dec := scope.In("decoder")
	cell := gru.New(dec.In("gru"), g, m.Cfg.Emb, m.Cfg.Hidden)
	embed := dec.In("embed")
	tok := Const(g, make([]int32, B))
	tok = AddScalar(tok, BOS)
	toks := make([]*Node, T)
	logps := make([]*Node, T)
	for t := range T {
		x := Reshape(nn.Embed(embed, ExpandAxes(tok, -1), V, m.Cfg.Emb), B, m.Cfg.Emb)
		h = cell.Step(x, h)
		logits := Reshape(m.output(dec, ExpandAxes(h, 1), enc, srcLen), B, V)
		logps[t] = LogSoftmax(logits, -1)
		if sample {
			tok = ArgMax(Add(Div(logits, temperature), Gumbel(scope, g, shapes.Make(dtypes.Float32, B, V))), -1)
		} else {
			tok = ArgMax(logits, -1)
		}
		tok = ConvertDType(tok, dtypes.Int32)
		toks[t] = tok
	}
	return Stack(toks, 1), Stack(logps, 1)
}

// Gumbel draws standard Gumbel noise -log(-log(U)) of the given shape from the store's RNG.
func Gumbel(scope *model.Scope, g *Graph, shape shapes.Shape) *Node {
	u := scope.RandomUniform(g, shape)
	eps := 1e-9
	u = ClipScalar(u, eps, 1-eps)
	return Neg(Log(Neg(Log(u))))
}

// CrossEntropy is the mean negative log-likelihood of targets tgt [B,T] under logits [B,T,V],
// over the positions where tgt is not PAD (PyTorch's ignore_index=0).
func CrossEntropy(logits, tgt *Node) *Node {
	logp := LogSoftmax(logits, -1)
	picked := ReduceSum(Mul(logp, OneHot(tgt, logits.Shape().Dim(-1), logp.DType())), -1)
	mask := ConvertDType(NotEqual(tgt, ScalarZero(tgt.Graph(), tgt.DType())), logp.DType())
	return Neg(Div(ReduceAllSum(Mul(picked, mask)), MaxScalar(ReduceAllSum(mask), 1)))
}

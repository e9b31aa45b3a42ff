package gpt

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Sampling holds the choices of a sampler that are fixed when its graph is built.
type Sampling struct {
	// Greedy takes the most likely token at every step (temperature is ignored).
	Greedy bool
	// TopK keeps only the K most likely tokens at every step (0: all).
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability reaches P (nucleus
	// sampling, Holtzman et al., 2020; 0 or 1: all).
	TopP float64
}

// Generated is what Sample returns: the tokens [B,N] (int32; after a row's EOS every token is
// EOS), the log-probability of each token under the distribution it was drawn from [B,N]
// (temperature and truncation applied; 0 after the row ended), and the model's logits at every
// step [B,N,V] (temperature 1, before truncation), for tests and critics.
type Generated struct {
	Tokens, LogProbs, Logits *Node
}

// Sample writes n tokens after each prompt of prompt [B,P] (left-padded, lengths [B] real tokens)
// in one graph. The prompts run through the model once; every later step feeds one token and
// attends to the keys and values cached from the steps before (KV), so a step costs O(P+t), not
// O((P+t)²). The cache grows by concatenation: every shape in the graph is static, so no
// DynamicSlice or DynamicUpdateSlice is needed, and the pure-Go backend runs it as XLA does.
//
// Tokens are drawn from softmax(truncate(logits) / temperature) by inverse-CDF sampling with the
// store's random number generator (deterministic by seed); temperature is a scalar input, so one
// compiled graph serves every temperature.
func (m *Model) Sample(scope *model.Scope, prompt, lengths, temperature *Node, n int, eos int32, s Sampling) Generated {
	g := prompt.Graph()
	B, P, V := prompt.Shape().Dim(0), prompt.Shape().Dim(1), m.Cfg.Vocab
	w := m.weights(scope, g)
	lengths = ConvertDType(lengths, dtypes.Int32)
	pos, real := leftPadded(lengths, P)
	keyBias := Reshape(maskBias(real), B, 1, 1, P)
	h, cache := m.forward(w, prompt, pos, Add(maskBias(causalMask(g, P)), keyBias), nil)
	last := Reshape(logits(w, Slice(h, AxisRange(), AxisElem(P-1))), B, V)

	zero := ScalarZero(g, dtypes.Float32)
	eosNode := Scalar(g, dtypes.Int32, eos)
	done := BroadcastToDims(Const(g, false), B)
	var toks, logps, steps []*Node
	for t := range n {
		tok, lp := m.choose(scope, last, temperature, s)
		tok = Where(done, BroadcastToDims(eosNode, B), tok)
		lp = Where(done, BroadcastToDims(zero, B), lp)
		done = LogicalOr(done, Equal(tok, eosNode))
		toks, logps, steps = append(toks, tok), append(logps, lp), append(steps, last)
		if t == n-1 {
			break
		}
		keyBias = Concatenate([]*Node{keyBias, Zeros(g, shapes.Make(dtypes.Float32, B, 1, 1, 1))}, 3)
		h, cache = m.forward(w, Reshape(tok, B, 1), Reshape(AddScalar(lengths, t), B, 1), keyBias, cache)
		last = Reshape(logits(w, h), B, V)
	}
	return Generated{Tokens: Stack(toks, 1), LogProbs: Stack(logps, 1), Logits: Stack(steps, 1)}
}

// choose draws one token per row from logits [B,V] and returns it [B] (int32) with its
// log-probability under the distribution it was drawn from [B].
func (m *Model) choose(scope *model.Scope, logits, temperature *Node, s Sampling) (tok, logProb *Node) {
	g := logits.Graph()
	if s.Greedy {
		tok = ConvertDType(ArgMax(logits, -1), dtypes.Int32)
		return tok, pick(LogSoftmax(logits, -1), tok)
	}
	z := Div(truncate(logits, s), temperature)
	// Inverse-CDF sampling: with u uniform in [0, total), the token is the number of tokens whose
	// cumulative probability is <= u, which never lands on a token of probability 0. It draws
	// one number per row where the Gumbel-max trick takes two logarithms per vocabulary entry.
	cdf := CumSum(Softmax(z, -1), -1)
	B, V := z.Shape().Dim(0), z.Shape().Dim(1)
	total := Slice(cdf, AxisRange(), AxisElem(V-1))
	u := Mul(scope.RandomUniform(g, shapes.Make(dtypes.Float32, B, 1)), total)
	tok = ReduceSum(ConvertDType(LessOrEqual(cdf, u), dtypes.Int32), -1)
	return tok, pick(LogSoftmax(z, -1), tok)
}

// pick returns logp[b, tok[b]] [B] for logp [B,V].
func pick(logp, tok *Node) *Node {
	return ReduceSum(Mul(logp, OneHot(tok, logp.Shape().Dim(-1), logp.DType())), -1)
}

// truncate sets the logits [B,V] of tokens outside the top-k and outside the top-p nucleus to
// -1e9.
func truncate(logits *Node, s Sampling) *Node {
	g := logits.Graph()
	low := Scalar(g, dtypes.Float32, -1e9)
	if s.TopK > 0 && s.TopK < logits.Shape().Dim(-1) {
		logits = Where(TopKMask(logits, s.TopK, -1), logits, BroadcastToShape(low, logits.Shape()))
	}
	if s.TopP > 0 && s.TopP < 1 {
		// Sorted descending, a token is in the nucleus when the probability of the tokens
		// before it is still below P; the nucleus is every token at least as likely as the
		// least likely of those.
		sorted := Sort(logits, -1, false)
		probs := Softmax(sorted, -1)
		before := Sub(CumSum(probs, -1), probs)
		inside := LessThan(before, Scalar(g, dtypes.Float32, s.TopP))
		big := BroadcastToShape(Scalar(g, dtypes.Float32, 1e30), sorted.Shape())
		threshold := ReduceAndKeep(Where(inside, sorted, big), ReduceMin, -1)
		logits = Where(GreaterOrEqual(logits, threshold), logits, BroadcastToShape(low, logits.Shape()))
	}
	return logits
}

package def

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/execfeed/execfeed/lib/proxy"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/lib/trainer"
)

func exactFor(t *testing.T) (*Exact, *seq2seq.Vocab) {
	t.Helper()
	vocab := seq2seq.NewVocab(rpn.Basic.Tokens())
	ex, err := NewExact(vocab, rpn.Basic)
	if err != nil {
		t.Fatal(err)
	}
	return ex, vocab
}

// predictExec compiles the exact executor: (dist, lengths, inputs) -> (outputs, d Σoutputs/d dist).
func predictExec(t *testing.T, ex *Exact) *model.Exec {
	t.Helper()
	exec, err := trainer.NewExec(gobackend.GetBackend(), model.NewStore(), "exact", func(root *model.Scope, in []*Node) []*Node {
		out := ex.Predict(root, in[0], in[1], in[2])
		return []*Node{out, Gradient(ReduceAllSum(out), in[0])[0]}
	})
	if err != nil {
		t.Fatal(err)
	}
	return exec
}

// TestExactEqualsInterpreter: on one-hot rows the soft stack machine gives exactly the
// interpreter's value, for every program of the generated data set (10,000), on 4 input triples
// each from [-9, 9].
func TestExactEqualsInterpreter(t *testing.T) {
	split, err := rpn.Generate(rpn.DefaultGenConfig(rpn.Basic))
	if err != nil {
		t.Fatal(err)
	}
	var progs [][]string
	for _, part := range [][]rpn.Example{split.Train, split.Val, split.Test} {
		for _, e := range part {
			progs = append(progs, e.ProgramTokens())
		}
	}
	if len(progs) != 10000 {
		t.Fatalf("data set has %d programs, want 10000", len(progs))
	}
	ex, vocab := exactFor(t)
	const K, T = 4, 16
	shell := &proxy.Proxy{Cfg: proxy.Config{K: K, InputRange: 9}, Vocab: vocab}
	data, err := shell.NewData(progs, T)
	if err != nil {
		t.Fatal(err)
	}
	envs := shell.RandomInputs(rand.New(rand.NewPCG(1, 2)), len(progs))
	in, want, err := proxy.Targets(rpn.Basic, progs, envs, K)
	if err != nil {
		t.Fatal(err)
	}
	dist, lens := data.OneHot(vocab.Size())
	res, err := predictExec(t, ex).Call(dist, lens, in)
	if err != nil {
		t.Fatal(err)
	}
	got, ref := tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](want)
	bad, large := 0, 0
	for i := range got {
		if got[i] != ref[i] {
			if bad < 5 {
				t.Errorf("program %q on %+v: exact executor %v, interpreter %v", progs[i/K], envs[i], got[i], ref[i])
			}
			bad++
		}
		if math.Abs(float64(ref[i])) > 1000 {
			large++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d outputs differ from the interpreter", bad, len(got))
	}
	if large == 0 { // the check would be weak if every output were small
		t.Fatal("no output above 1000 in magnitude: the inputs do not exercise the arithmetic")
	}
}

// softDist returns rows softmax(logits) with logits ~ N(0, 1.5²), float64 [B,T,V].
func softDist(rng *rand.Rand, B, T, V int) []float64 {
	out := make([]float64, B*T*V)
	for r := range B * T {
		sum := 0.0
		for v := range V {
			out[r*V+v] = math.Exp(1.5 * rng.NormFloat64())
			sum += out[r*V+v]
		}
		for v := range V {
			out[r*V+v] /= sum
		}
	}
	return out
}

// TestExactGradientFiniteDifferences: the executor's autodiff gradient with respect to the token
// distributions equals central finite differences of the relaxation itself (float64, soft rows,
// every coordinate of two programs' rows).
func TestExactGradientFiniteDifferences(t *testing.T) {
	ex, vocab := exactFor(t)
	const B, T, K = 2, 7, 3
	V := vocab.Size()
	rng := rand.New(rand.NewPCG(3, 4))
	p := softDist(rng, B, T, V)
	lens := []int32{7, 5} // 6 and 4 program positions
	inputs := make([]float64, B*K*3)
	for i := range inputs {
		inputs[i] = float64(rng.IntN(7) - 3)
	}
	exec := predictExec(t, ex)
	call := func(p []float64) (float64, []float64) {
		res, err := exec.Call(tensors.FromFlatDataAndDimensions(p, B, T, V), tensors.FromFlatDataAndDimensions(lens, B),
			tensors.FromFlatDataAndDimensions(inputs, B, K, 3))
		if err != nil {
			t.Fatal(err)
		}
		if res[0].DType() != dtypes.Float64 {
			t.Fatalf("outputs are %s, want the rows' float64", res[0].DType())
		}
		sum := 0.0
		for _, v := range tensors.MustCopyFlatData[float64](res[0]) {
			sum += v
		}
		return sum, tensors.MustCopyFlatData[float64](res[1])
	}
	_, grad := call(p)
	const h = 1e-5
	var maxErr, maxGrad float64
	for i := range p {
		q := slices.Clone(p)
		q[i] = p[i] + h
		up, _ := call(q)
		q[i] = p[i] - h
		down, _ := call(q)
		fd := (up - down) / (2 * h)
		maxErr = max(maxErr, math.Abs(fd-grad[i])/(1+math.Abs(fd)))
		maxGrad = max(maxGrad, math.Abs(grad[i]))
		b, t0 := i/(T*V), (i/V)%T
		if t0 >= int(lens[b])-1 && grad[i] != 0 {
			t.Errorf("program %d position %d (EOS or padding) has gradient %v, want 0", b, t0, grad[i])
		}
	}
	if maxErr > 1e-6 {
		t.Errorf("autodiff vs finite differences: max relative error %.2e, want ≤ 1e-6", maxErr)
	}
	if maxGrad < 1e-3 {
		t.Errorf("gradient is ~0 everywhere (max %.2e): the check is vacuous", maxGrad)
	}
}

// TestExactRelaxation: on soft rows the output is the expected output of the program drawn token
// by token independently (each drawn program run on the machine itself, one-hot, where it is the
// interpreter's value for well-formed programs), exactly so when every position's mass is on
// tokens of one arity (then the operands of * come from disjoint positions and are independent),
// or when no * follows a position of uncertain arity; a * after such a position multiplies
// correlated operands' means instead (mean field), which differs (docs/DEF.md).
func TestExactRelaxation(t *testing.T) {
	ex, vocab := exactFor(t)
	V := vocab.Size()
	exec := predictExec(t, ex)
	env := []float64{2, -3, 5}
	type choice struct {
		tok string
		p   float64
	}
	outputOf := func(dist []float64, T int) float64 {
		res, err := exec.Call(tensors.FromFlatDataAndDimensions(dist, 1, T, V), tensors.FromFlatDataAndDimensions([]int32{int32(T)}, 1),
			tensors.FromFlatDataAndDimensions(env, 1, 1, 3))
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float64](res[0])[0]
	}
	run := func(pos [][]choice) (soft, expect float64) {
		T := len(pos) + 1
		rows := func(pick func(t0 int) []choice) []float64 {
			dist := make([]float64, T*V)
			for t0 := range pos {
				for _, c := range pick(t0) {
					id, _ := vocab.ID(c.tok)
					dist[t0*V+int(id)] = c.p
				}
			}
			dist[len(pos)*V+seq2seq.EOS] = 1
			return dist
		}
		soft = outputOf(rows(func(t0 int) []choice { return pos[t0] }), T)
		var walk func(i int, prog []int, prob float64)
		walk = func(i int, prog []int, prob float64) {
			if i == len(pos) {
				v := outputOf(rows(func(t0 int) []choice { return []choice{{pos[t0][prog[t0]].tok, 1}} }), T)
				toks := make([]string, len(prog))
				for t0, k := range prog {
					toks[t0] = pos[t0][k].tok
				}
				if want, err := rpn.Eval(toks, rpn.Basic, rpn.Env{A: 2, B: -3, C: 5}); err == nil && float64(want) != v {
					t.Fatalf("%q: machine %v, interpreter %v", toks, v, want)
				}
				expect += prob * v
				return
			}
			for k, c := range pos[i] {
				walk(i+1, append(slices.Clone(prog), k), prob*c.p)
			}
		}
		walk(0, nil, 1)
		return soft, expect
	}
	push := []choice{{"a", 0.5}, {"7", 0.3}, {"c", 0.2}}
	push2 := []choice{{"b", 0.6}, {"2", 0.4}}
	for _, tc := range []struct {
		name  string
		pos   [][]choice
		equal bool
	}{
		{"fixed arity, + -", [][]choice{push, push2, {{"+", 0.7}, {"-", 0.3}}, push, {{"+", 0.2}, {"-", 0.8}}}, true},
		{"fixed arity, with *", [][]choice{push, push2, {{"+", 0.5}, {"*", 0.5}}, push, {{"*", 0.6}, {"-", 0.4}}}, true},
		{"uncertain arity, then -", [][]choice{{{"a", 1}}, {{"b", 1}}, {{"+", 0.5}, {"3", 0.5}}, {{"-", 1}}}, true},
		{"special token (no-op) mixed in", [][]choice{{{"a", 1}}, push2, {{"c", 1}}, {{"+", 0.6}, {"<eos>", 0.4}}, {{"-", 1}}}, true},
		{"uncertain arity, then *", [][]choice{{{"a", 1}}, {{"b", 1}}, {{"+", 0.5}, {"3", 0.5}}, {{"*", 1}}}, false},
	} {
		soft, expect := run(tc.pos)
		if tc.equal && math.Abs(soft-expect) > 1e-9 {
			t.Errorf("%s: soft stack %v, expected output %v (want equal)", tc.name, soft, expect)
		}
		if !tc.equal && math.Abs(soft-expect) < 1e-3 {
			t.Errorf("%s: soft stack %v equals the expectation %v; the mean-field product should differ", tc.name, soft, expect)
		}
	}
}

// TestExactRejectsExt: rpn-ext's tokens have no exact relaxation here.
func TestExactRejectsExt(t *testing.T) {
	if _, err := NewExact(seq2seq.NewVocab(rpn.Ext.Tokens()), rpn.Ext); err == nil {
		t.Fatal("NewExact accepted rpn-ext")
	}
	if _, err := NewExact(seq2seq.NewVocab(rpn.Ext.Tokens()), rpn.Basic); err == nil {
		t.Fatal("NewExact accepted a vocabulary with / dup swap")
	}
}

// TestGradientQualityExactBesideProxy measures def.GradientQuality for the exact executor and for
// a (briefly trained) learned proxy on the same programs and inputs. A single-token change that
// keeps a program well formed keeps every position's arity, and along such directions the
// relaxation is exactly the expected output (TestExactRelaxation), so the exact executor's rates
// are the interpreter's finite differences: cosine 1 and every sign right, * included.
func TestGradientQualityExactBesideProxy(t *testing.T) {
	split, err := rpn.Generate(rpn.DefaultGenConfig(rpn.Basic))
	if err != nil {
		t.Fatal(err)
	}
	var train, probe [][]string
	for _, e := range split.Train[:512] {
		train = append(train, e.ProgramTokens())
	}
	times := 0
	for _, e := range split.Val[:64] {
		probe = append(probe, e.ProgramTokens())
		if slices.Contains(e.ProgramTokens(), "*") {
			times++
		}
	}
	if times < 20 {
		t.Fatalf("only %d of the probe programs use *", times)
	}
	ex, vocab := exactFor(t)
	backend := gobackend.GetBackend()
	cfg := proxy.DefaultConfig()
	exact, err := ExactGradientQuality(backend, ex, cfg.K, cfg.InputRange, 64, probe, rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		t.Fatal(err)
	}
	px, err := proxy.New(backend, cfg, vocab, rpn.Basic, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := px.NewData(train, 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := px.Fit(data, 2, 1e-3, rand.New(rand.NewPCG(1, 7)), nil); err != nil {
		t.Fatal(err)
	}
	learned, err := GradientQuality(px, probe, rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exact: %+v; proxy (2 epochs on 512 programs): %+v", exact, learned)
	if exact.Programs != len(probe) || exact.Directions != learned.Directions || exact.Directions < 1000 {
		t.Errorf("exact measured %d programs, %d directions; proxy %d directions on the same programs", exact.Programs, exact.Directions, learned.Directions)
	}
	if math.Abs(exact.MeanCosine-1) > 1e-5 || exact.SignAgreement != 1 {
		t.Errorf("exact executor: cosine %.6f, sign agreement %.4f, want 1 and 1", exact.MeanCosine, exact.SignAgreement)
	}
	if learned.MeanCosine > 0.8 || learned.SignAgreement > 0.9 {
		t.Errorf("briefly trained proxy: cosine %.3f, sign agreement %.3f; expected far from the exact executor's", learned.MeanCosine, learned.SignAgreement)
	}
}

// TestTermGradients: the CE gradient norm TermGradients reports equals the one computed by hand
// from the logits, (softmax − one-hot)/tokens at every non-padding position; the MSE gradient
// through the exact executor is finite and non-zero.
func TestTermGradients(t *testing.T) {
	split, err := rpn.Generate(rpn.DefaultGenConfig(rpn.Basic))
	if err != nil {
		t.Fatal(err)
	}
	const B = 8
	m := seq2seq.NewModel(seq2seq.DefaultConfig(), rpn.Basic, split.Train[:200])
	data, err := m.Prepare(split.Train[:B])
	if err != nil {
		t.Fatal(err)
	}
	gen, err := seq2seq.NewGenerator(gobackend.GetBackend(), m, B, 3)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := NewExact(m.Tgt, rpn.Basic)
	if err != nil {
		t.Fatal(err)
	}
	measure, err := TermGradients(gen, ex, false)
	if err != nil {
		t.Fatal(err)
	}
	b := data.Batch([]int{0, 1, 2, 3, 4, 5, 6, 7}, B)
	shell := &proxy.Proxy{Cfg: proxy.DefaultConfig(), Vocab: m.Tgt}
	in, out, err := proxy.Targets(rpn.Basic, programs(split.Train[:B]), shell.RandomInputs(rand.New(rand.NewPCG(1, 1)), B), shell.Cfg.K)
	if err != nil {
		t.Fatal(err)
	}
	got, err := measure(b.Src, b.SrcLen, b.DecIn, b.Tgt, in, out, Hyper(1))
	if err != nil {
		t.Fatal(err)
	}
	logitsExec, err := trainer.NewExec(gen.Backend, gen.Store, "logits", func(root *model.Scope, in []*Node) []*Node {
		return []*Node{gen.Logits(root.In(seq2seq.Scope), in[0], in[1], in[2])}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := logitsExec.Call(b.Src, b.SrcLen, b.DecIn)
	if err != nil {
		t.Fatal(err)
	}
	logits := tensors.MustCopyFlatData[float32](res[0])
	tgt := tensors.MustCopyFlatData[int32](b.Tgt)
	V, T := m.Tgt.Size(), len(tgt)/B
	tokens, sq := 0.0, 0.0
	for _, id := range tgt {
		if id != seq2seq.PAD {
			tokens++
		}
	}
	for p, id := range tgt {
		if id == seq2seq.PAD {
			continue
		}
		row := logits[p*V : (p+1)*V]
		mx, z := float64(slices.Max(row)), 0.0
		for _, l := range row {
			z += math.Exp(float64(l) - mx)
		}
		for v, l := range row {
			g := math.Exp(float64(l)-mx) / z
			if int32(v) == id {
				g--
			}
			sq += (g / tokens) * (g / tokens)
		}
	}
	want := math.Sqrt(sq)
	t.Logf("CE gradient norm %.5f (by hand %.5f), MSE gradient norm %.1f; %d positions of %d", got.CE, want, got.MSE, int(tokens), B*T)
	if math.Abs(got.CE-want) > 1e-4*want {
		t.Errorf("CE gradient norm %v, by hand %v", got.CE, want)
	}
	if !(got.MSE > 0) || math.IsInf(got.MSE, 0) {
		t.Errorf("MSE gradient norm %v", got.MSE)
	}
}

func programs(examples []rpn.Example) [][]string {
	out := make([][]string, len(examples))
	for i, e := range examples {
		out[i] = e.ProgramTokens()
	}
	return out
}

package seq2seq_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/lib/trainer"
)

func tinyData(t *testing.T, n int) (rpn.Split, *seq2seq.Model) {
	cfg := rpn.DefaultGenConfig(rpn.Basic)
	cfg.Train, cfg.Val, cfg.Test = n, 16, 16
	s, err := rpn.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mc := seq2seq.Config{Emb: 16, Hidden: 32, SrcLen: 30, TgtLen: 16, ReverseSource: true}
	return s, seq2seq.NewModel(mc, rpn.Basic, s.Train)
}

func newGen(t *testing.T, m *seq2seq.Model) *seq2seq.Generator {
	g, err := seq2seq.NewGenerator(gobackend.GetBackend(), m, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestLossFallsOnTinyData(t *testing.T) {
	s, m := tinyData(t, 64)
	gen := newGen(t, m)
	train, err := m.Prepare(s.Train)
	if err != nil {
		t.Fatal(err)
	}
	step, err := gen.CEStep(optimizer.Adam().LearningRate(1e-2).Done())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var first, last float64
	for epoch := range 15 {
		v, err := gen.TrainEpoch(step, train, rng, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if epoch == 0 {
			first = v[0]
		}
		last = v[0]
	}
	if !(last < 0.5*first) {
		t.Fatalf("cross-entropy went from %.3f to %.3f; want it at least halved", first, last)
	}
	// The trained weights are what decoding sees: greedy predictions on the training set must
	// beat chance by far (this caught graphs that froze the weights they were compiled with).
	preds, err := gen.Predict(train)
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for i, p := range preds {
		if len(p) > 0 && p[0] == s.Train[i].ProgramTokens()[0] {
			ok++
		}
	}
	if ok < len(preds)/2 {
		t.Fatalf("only %d/%d predictions start with the right token", ok, len(preds))
	}
}

func TestCheckpointResumeGivesSameNextStep(t *testing.T) {
	s, m := tinyData(t, 48)
	train, _ := m.Prepare(s.Train)
	b := func(i int) seq2seq.Batch { return train.Batch([]int{i, i + 1, i + 2, i + 3}, 16) }
	run := func(gen *seq2seq.Generator, step *trainer.Step, batch seq2seq.Batch) float64 {
		v, err := step.Run(batch.Src, batch.SrcLen, batch.DecIn, batch.Tgt)
		if err != nil {
			t.Fatal(err)
		}
		return v[0]
	}
	gen := newGen(t, m)
	step, _ := gen.CEStep(optimizer.Adam().LearningRate(1e-2).Done())
	run(gen, step, b(0))
	run(gen, step, b(4))
	path := filepath.Join(t.TempDir(), "gen.ckpt")
	if err := trainer.Save(gen.Store, path); err != nil {
		t.Fatal(err)
	}
	want := run(gen, step, b(8))
	want2 := run(gen, step, b(12))

	resumed := newGen(t, m)
	if err := trainer.Load(resumed.Store, path); err != nil {
		t.Fatal(err)
	}
	step2, _ := resumed.CEStep(optimizer.Adam().LearningRate(1e-2).Done())
	if got := run(resumed, step2, b(8)); got != want {
		t.Fatalf("resumed step loss %v, uninterrupted %v", got, want)
	}
	if got := run(resumed, step2, b(12)); got != want2 {
		t.Fatalf("second resumed step loss %v, uninterrupted %v (optimizer state not restored?)", got, want2)
	}
	if err := trainer.Load(resumed.Store, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("loading a missing checkpoint must fail")
	}
}

func TestBadInputIsAnError(t *testing.T) {
	s, m := tinyData(t, 32)
	cases := []struct {
		ex   rpn.Example
		want string
	}{
		{rpn.Example{Description: "add a and b", Program: "a q +"}, `unknown token "q"`},
		{rpn.Example{Description: "add a and b", Program: strings.Repeat("a ", 15) + strings.Repeat("+ ", 14)}, "program has 29 tokens"},
		{rpn.Example{Description: strings.Repeat("a ", 31), Program: "a"}, "has 31 words, want 1..30"},
	}
	for _, c := range cases {
		_, err := m.Prepare(append([]rpn.Example{s.Train[0]}, c.ex))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "example 1") {
			t.Errorf("Prepare(%+v) error %v, want one naming example 1 and %q", c.ex, err, c.want)
		}
	}
}

// TestUnknownWordIsUNK: a description word the vocabulary lacks (training never saw it) is
// encoded as UNK and counted; known words keep their ids.
func TestUnknownWordIsUNK(t *testing.T) {
	s, m := tinyData(t, 32)
	e, err := m.Prepare([]rpn.Example{s.Train[0], {Description: "add a and zebra", Program: "a b +"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Unknown != 1 {
		t.Errorf("Unknown = %d, want 1", e.Unknown)
	}
	want, _ := m.Src.Encode([]string{"add", "a", "and"})
	want = append(want, seq2seq.UNK)
	if m.Cfg.ReverseSource {
		slices.Reverse(want)
	}
	if got := e.Src[e.S : e.S+4]; !slices.Equal(got, want) || e.SrcLen[1] != 4 {
		t.Errorf("encoded %v (length %d), want %v", got, e.SrcLen[1], want)
	}
	if ids, n := m.Src.EncodeWords([]string{"<pad>", "a"}); n != 1 || ids[0] != seq2seq.UNK {
		t.Errorf("a special token's name as a word: %v, %d unknown; want UNK, 1", ids, n)
	}
	if _, err := m.Src.Encode([]string{"zebra"}); err == nil {
		t.Error("Encode accepts an unknown token")
	}
}

func TestNaNLossStopsTraining(t *testing.T) {
	backend, _ := gobackend.New("")
	store := model.NewStore()
	step, err := trainer.NewStep(backend, store, "/w", optimizer.Adam().Done(), "nan-test",
		func(root *model.Scope, in []*Node) (*Node, []*Node) {
			w := root.In("w").VariableWithValue("x", float32(1)).NodeValue(in[0].Graph())
			return Mul(Log(in[0]), w), nil // log of a negative input is NaN
		})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := step.Run(float32(2)); err != nil {
		t.Fatalf("finite loss: %v", err)
	}
	_, err = step.Run(float32(-1))
	if err == nil || !strings.Contains(err.Error(), "nan-test step 2: loss is NaN") {
		t.Fatalf("NaN loss gave %v", err)
	}
	_ = math.NaN
}

func TestSampleIsDeterministicBySeed(t *testing.T) {
	s, m := tinyData(t, 32)
	data, _ := m.Prepare(s.Train)
	b := data.Batch([]int{0, 1, 2, 3}, 16)
	t1, lp1, err := newGen(t, m).SampleBatch(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	t2, lp2, err := newGen(t, m).SampleBatch(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range t1 {
		if t1[i] != t2[i] {
			t.Fatalf("same seed, different samples at %d", i)
		}
	}
	// Log-probabilities are normalised per position.
	V := m.Tgt.Size()
	sum := 0.0
	for v := range V {
		sum += math.Exp(float64(lp1[v]))
	}
	if math.Abs(sum-1) > 1e-4 || lp1[0] != lp2[0] {
		t.Fatalf("probabilities sum to %v", sum)
	}
}

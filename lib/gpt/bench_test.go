package gpt_test

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/gpt"
	"github.com/execfeed/execfeed/lib/trainer"
)

// The shapes of the PyTorch reference, bench/torch_gpt_step.py defaults.
const (
	benchVocab, benchContext, benchLayers, benchHeads, benchWidth, benchBatch = 512, 128, 4, 4, 128, 32
	benchPrompt, benchNew, benchSampleBatch                                   = 32, 64, 64
)

// benchModel is the reference's model: positions for context + new tokens, as there.
func benchModel() *gpt.Model {
	return &gpt.Model{Cfg: gpt.Config{Layers: benchLayers, Heads: benchHeads, Width: benchWidth,
		Context: benchContext + benchNew, Vocab: benchVocab, Epsilon: 1e-5}}
}

// benchBackend is $GOMLX_BACKEND (the GPU script sets it to the XLA CUDA plugin) or the Go
// backend.
func benchBackend(tb testing.TB) compute.Backend {
	config := os.Getenv("GOMLX_BACKEND")
	if config == "" || config == "go" {
		return gobackend.GetBackend()
	}
	backend, err := compute.NewWithConfig(config)
	if err != nil {
		tb.Fatal(err)
	}
	return backend
}

// BenchmarkTrainStep times one causal-LM cross-entropy + Adam step on a [32, 128] block of random
// tokens, the reference's train step. bench/compare_torch_gpt.sh prints the ratio.
func BenchmarkTrainStep(b *testing.B) {
	m := benchModel()
	store, err := trainer.NewStore(0)
	if err != nil {
		b.Fatal(err)
	}
	step, err := m.LMStep(benchBackend(b), store, optimizer.Adam().LearningRate(1e-3).Done())
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(0, 0))
	toks := make([]int32, benchBatch*(benchContext+1))
	for i := range toks {
		toks[i] = int32(rng.IntN(benchVocab))
	}
	mask := make([]float32, benchBatch*benchContext)
	for i := range mask {
		mask[i] = 1
	}
	x := tensors.FromFlatDataAndDimensions(toks, benchBatch, benchContext+1)
	y := tensors.FromFlatDataAndDimensions(mask, benchBatch, benchContext)
	for range 3 { // compile and warm up
		if _, err := step.Run(x, y); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := step.Run(x, y); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSample times batched sampling with the key/value cache: 64 random 32-token prompts,
// 64 new tokens each at temperature 1, the reference's sampling loop. It reports new tokens per
// second over the whole batch (tokens/s).
func BenchmarkSample(b *testing.B) {
	m := benchModel()
	store, err := trainer.NewStore(0)
	if err != nil {
		b.Fatal(err)
	}
	exec, err := trainer.NewExec(benchBackend(b), store, "sample", func(root *model.Scope, in []*Node) []*Node {
		gen := m.Sample(root.In(gpt.Scope), in[0], in[1], in[2], benchNew, -1, gpt.Sampling{})
		return []*Node{gen.Tokens, gen.LogProbs}
	})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(0, 0))
	prompt := func() []any {
		toks, lens := make([]int32, benchSampleBatch*benchPrompt), make([]int32, benchSampleBatch)
		for i := range toks {
			toks[i] = int32(rng.IntN(benchVocab))
		}
		for i := range lens {
			lens[i] = benchPrompt
		}
		return []any{tensors.FromFlatDataAndDimensions(toks, benchSampleBatch, benchPrompt),
			tensors.FromFlatDataAndDimensions(lens, benchSampleBatch), float32(1)}
	}
	run := func() {
		res, err := exec.Call(prompt()...)
		if err != nil {
			b.Fatal(err)
		}
		_ = tensors.MustCopyFlatData[int32](res[0]) // wait for the result
		for _, r := range res {
			r.FinalizeAll()
		}
	}
	run() // compile
	b.ResetTimer()
	for range b.N {
		run()
	}
	b.ReportMetric(float64(benchSampleBatch*benchNew*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// TestTrainRun is the GPU script's short training run (skipped unless GPT_TRAIN_RUN=1): the
// benchmark model learns a fixed random sequence for 150 steps on $GOMLX_BACKEND; the loss must
// fall from ln 512 to under a tenth of it.
func TestTrainRun(t *testing.T) {
	if os.Getenv("GPT_TRAIN_RUN") != "1" {
		t.Skip("set GPT_TRAIN_RUN=1 (bench/gpu_gpt.sh does)")
	}
	m := benchModel()
	store, err := trainer.NewStore(0)
	if err != nil {
		t.Fatal(err)
	}
	backend := benchBackend(t)
	step, err := m.LMStep(backend, store, optimizer.Adam().LearningRate(1e-3).Done())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	seq := make([]int32, benchContext+1)
	for i := range seq {
		seq[i] = int32(rng.IntN(benchVocab))
	}
	toks := make([]int32, 0, benchBatch*(benchContext+1))
	mask := make([]float32, benchBatch*benchContext)
	for range benchBatch {
		toks = append(toks, seq...)
	}
	for i := range mask {
		mask[i] = 1
	}
	x := tensors.FromFlatDataAndDimensions(toks, benchBatch, benchContext+1)
	y := tensors.FromFlatDataAndDimensions(mask, benchBatch, benchContext)
	var first, last float64
	start := time.Now()
	for i := range 150 {
		vals, err := step.Run(x, y)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = vals[0]
			start = time.Now()
		}
		last = vals[0]
		if i%50 == 0 || i == 149 {
			t.Logf("step %d loss %.4f", i+1, vals[0])
		}
	}
	t.Logf("backend %s: 149 steps in %v (%.1f ms/step after the first)", backend.Name(), time.Since(start),
		float64(time.Since(start).Milliseconds())/149)
	if math.Abs(first-math.Log(benchVocab)) > 0.5 || last > first/10 {
		t.Fatalf("loss %.3f -> %.3f: want a start near ln %d and a fall below a tenth", first, last, benchVocab)
	}
}

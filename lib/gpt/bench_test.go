package gpt_test

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/experiment"
	"github.com/execfeed/execfeed/lib/gpt"
	"github.com/execfeed/execfeed/lib/trainer"
)

// The shapes of the PyTorch reference, ../shared/bench/torch_gpt_step.py defaults.
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
func benchBackend(b *testing.B) compute.Backend {
	backend, err := experiment.Backend("")
	if err != nil {
		b.Fatal(err)
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

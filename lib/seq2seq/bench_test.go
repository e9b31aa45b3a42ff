package seq2seq_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/seq2seq"
)

// BenchmarkTrainStep times one teacher-forced CE + Adam step at the shapes of the PyTorch
// reference (bench/torch_gru_step.py defaults): vocabularies 40/20, lengths 24/16,
// embedding 64, hidden 128, batch 64, random lengths as there. bench/compare_torch.sh runs both
// and prints the ratio.
func BenchmarkTrainStep(b *testing.B) {
	const srcV, tgtV, S, T, E, H, B = 40, 20, 24, 16, 64, 128, 64
	words := make([]string, srcV-4)
	for i := range words {
		words[i] = fmt.Sprint("w", i)
	}
	toks := make([]string, tgtV-4)
	for i := range toks {
		toks[i] = fmt.Sprint("t", i)
	}
	m := &seq2seq.Model{Cfg: seq2seq.Config{Emb: E, Hidden: H, SrcLen: S, TgtLen: T},
		Src: seq2seq.NewVocab(words), Tgt: seq2seq.NewVocab(toks)}
	gen, err := seq2seq.NewGenerator(gobackend.GetBackend(), m, B, 0)
	if err != nil {
		b.Fatal(err)
	}
	step, err := gen.CEStep(optimizer.Adam().LearningRate(1e-3).Done())
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(0, 0))
	batch := func() []any {
		src, lens := make([]int32, B*S), make([]int32, B)
		decIn, tgt := make([]int32, B*T), make([]int32, B*T)
		for r := range B {
			L, M := S/2+rng.IntN(S/2+1), 3+rng.IntN(T-4)
			for i := range L {
				src[r*S+i] = int32(4 + rng.IntN(srcV-4))
			}
			lens[r] = int32(L)
			decIn[r*T] = seq2seq.BOS
			for i := range M {
				tok := int32(4 + rng.IntN(tgtV-4))
				tgt[r*T+i], decIn[r*T+i+1] = tok, tok
			}
			tgt[r*T+M] = seq2seq.EOS
		}
		return []any{tensors.FromFlatDataAndDimensions(src, B, S), tensors.FromFlatDataAndDimensions(lens, B),
			tensors.FromFlatDataAndDimensions(decIn, B, T), tensors.FromFlatDataAndDimensions(tgt, B, T)}
	}
	for range 3 { // compile and warm up
		if _, err := step.Run(batch()...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		in := batch()
		b.StartTimer()
		if _, err := step.Run(in...); err != nil {
			b.Fatal(err)
		}
	}
}

package seq2seq

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/trainer"
)

// Scope is where a generator's weights live in its store.
const Scope = "generator"

// Generator is a Model with its weights (a model.Store) on a backend, ready to train and decode.
type Generator struct {
	*Model
	Backend compute.Backend
	Store   *model.Store
	Batch   int // batch size of every compiled graph

	greedy, sample *model.Exec
}

// NewGenerator creates a generator with fresh weights drawn from seed.
func NewGenerator(backend compute.Backend, m *Model, batch int, seed int64) (*Generator, error) {
	store, err := trainer.NewStore(seed)
	if err != nil {
		return nil, err
	}
	return &Generator{Model: m, Backend: backend, Store: store, Batch: batch}, nil
}

// CEStep compiles the teacher-forced cross-entropy step (the baseline of seed 000 and the SFT of
// seed 001). Its inputs are a Batch's Src, SrcLen, DecIn, Tgt.
func (g *Generator) CEStep(opt optimizer.Interface) (*trainer.Step, error) {
	return trainer.NewStep(g.Backend, g.Store, "/"+Scope, opt, "ce", func(root *model.Scope, in []*Node) (*Node, []*Node) {
		return CrossEntropy(g.Logits(root.In(Scope), in[0], in[1], in[2]), in[3]), nil
	})
}

// SetLearningRate changes the learning rate of the generator's Adam optimizer between steps
// (for schedules); it fails before the first step has created the optimizer's variables.
func (g *Generator) SetLearningRate(lr float64) error {
	v := g.Store.GetVariable("/" + Scope + "/" + optimizer.Scope + "/" + optimizer.ParamLearningRate)
	if v == nil {
		return fmt.Errorf("generator: no learning-rate variable yet (run a step first)")
	}
	return v.SetValue(tensors.FromScalar(float32(lr)))
}

// TrainEpoch runs step over one shuffled pass of data (full batches only) and returns the mean
// of each value the step reports. extra, if not nil, supplies inputs after the batch tensors
// (e.g. DEF's random program inputs). progress, if not nil, is called after every step.
func (g *Generator) TrainEpoch(step *trainer.Step, data *Encoded, rng *rand.Rand,
	extra func(b Batch) ([]any, error), progress func(done, total int, vals []float64)) ([]float64, error) {
	batches := data.Epoch(g.Batch, rng, true)
	if len(batches) == 0 {
		return nil, fmt.Errorf("training set of %d examples is smaller than one batch of %d", data.Len(), g.Batch)
	}
	var sums []float64
	for i, idx := range batches {
		b := data.Batch(idx, g.Batch)
		in := []any{b.Src, b.SrcLen, b.DecIn, b.Tgt}
		if extra != nil {
			more, err := extra(b)
			if err != nil {
				return nil, err
			}
			in = append(in, more...)
		}
		vals, err := step.Run(in...)
		if err != nil {
			return nil, err
		}
		if sums == nil {
			sums = make([]float64, len(vals))
		}
		for j, v := range vals {
			sums[j] += v
		}
		if progress != nil {
			progress(i+1, len(batches), vals)
		}
	}
	for j := range sums {
		sums[j] /= float64(len(batches))
	}
	return sums, nil
}

// Predict decodes every example of data greedily and returns the programs' tokens.
func (g *Generator) Predict(data *Encoded) ([][]string, error) {
	out := make([][]string, data.Len())
	T := g.Cfg.TgtLen
	for _, idx := range data.Epoch(g.Batch, nil, false) {
		b := data.Batch(idx, g.Batch)
		toks, err := g.GreedyBatch(b)
		if err != nil {
			return nil, err
		}
		for r := range b.N {
			out[idx[r]] = g.Tgt.Decode(toks[r*T : (r+1)*T])
		}
	}
	return out, nil
}

// GreedyBatch decodes every row of b greedily and returns the token ids [B][T] flattened.
func (g *Generator) GreedyBatch(b Batch) ([]int32, error) {
	if g.greedy == nil {
		exec, err := trainer.NewExec(g.Backend, g.Store, "greedy", func(root *model.Scope, in []*Node) []*Node {
			toks, _ := g.Decode(root.In(Scope), in[0], in[1], nil, false)
			return []*Node{toks}
		})
		if err != nil {
			return nil, err
		}
		g.greedy = exec
	}
	res, err := g.greedy.Call(b.Src, b.SrcLen)
	if err != nil {
		return nil, fmt.Errorf("greedy decoding: %w", err)
	}
	toks := tensors.MustCopyFlatData[int32](res[0])
	res[0].FinalizeAll()
	return toks, nil
}

// SampleBatch draws one program per row of b at the given temperature (in the graph, from the
// store's RNG) and returns the token ids [B][T] and their log-probabilities [B][T][V] flattened.
func (g *Generator) SampleBatch(b Batch, temperature float32) (tokens []int32, logProbs []float32, err error) {
	if g.sample == nil {
		exec, err := trainer.NewExec(g.Backend, g.Store, "sample", func(root *model.Scope, in []*Node) []*Node {
			toks, logp := g.Decode(root.In(Scope), in[0], in[1], in[2], true)
			return []*Node{toks, logp}
		})
		if err != nil {
			return nil, nil, err
		}
		g.sample = exec
	}
	res, err := g.sample.Call(b.Src, b.SrcLen, temperature)
	if err != nil {
		return nil, nil, fmt.Errorf("sampling: %w", err)
	}
	tokens = tensors.MustCopyFlatData[int32](res[0])
	logProbs = tensors.MustCopyFlatData[float32](res[1])
	res[0].FinalizeAll()
	res[1].FinalizeAll()
	return tokens, logProbs, nil
}

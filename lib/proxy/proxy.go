// Package proxy is seed 000's proxy executor: a GRU trained to imitate the RPN interpreter, so
// that "what does this program compute on these inputs?" becomes a differentiable function of the
// program's tokens.
//
// The proxy reads a program as a sequence of token distributions [B,T,V] (one-hot rows for a real
// program, Gumbel-softmax rows for the generator's soft tokens) through the expected embedding,
// with the input values (a, b, c) appended to every position, and predicts the program's output
// for each of K input triples. Outputs are predicted in units of Scale so the network works with
// values of order one.
package proxy

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/gru"
	"github.com/execfeed/execfeed/lib/nn"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/lib/trainer"
)

// Scope is where the proxy's weights live in a store.
const Scope = "proxy"

// Config holds the proxy's sizes and its data recipe.
type Config struct {
	Emb, Hidden int
	K           int     // input triples per program
	InputRange  int     // a, b, c are drawn uniformly from [-InputRange, InputRange]
	Scale       float64 // the network predicts output/Scale
}

// DefaultConfig is the configuration used by the rpn-def experiment.
func DefaultConfig() Config { return Config{Emb: 64, Hidden: 128, K: 4, InputRange: 3, Scale: 10} }

// Proxy is a proxy executor for the programs of a target vocabulary.
type Proxy struct {
	Cfg   Config
	Vocab *seq2seq.Vocab
}

// Predict returns the predicted outputs [B,K] (in raw units) of programs given as token
// distributions dist [B,T,V], read up to lengths [B] (int32, through EOS), on inputs [B,K,3].
func (p *Proxy) Predict(scope *model.Scope, dist, lengths, inputs *Node) *Node {
	B, T, K := dist.Shape().Dim(0), dist.Shape().Dim(1), inputs.Shape().Dim(1)
	E := p.Cfg.Emb
	emb := nn.EmbedSoft(scope.In("embed"), dist, p.Vocab.Size(), E) // [B,T,E]
	emb = BroadcastToDims(ExpandAxes(emb, 1), B, K, T, E)           // [B,K,T,E]
	vals := DivScalar(inputs, float64(p.Cfg.InputRange))            // [B,K,3]
	vals = BroadcastToDims(ExpandAxes(vals, 2), B, K, T, 3)
	x := Reshape(Concatenate([]*Node{emb, vals}, -1), B*K, T, E+3)
	lens := Reshape(BroadcastToDims(ExpandAxes(lengths, 1), B, K), B*K)
	_, h := gru.New(scope.In("gru"), dist.Graph(), E+3, p.Cfg.Hidden).Sequence(x, nil, lens)
	h = Tanh(nn.Linear(scope.In("hidden"), h, p.Cfg.Hidden))
	out := nn.Linear(scope.In("out"), h, 1)
	return MulScalar(Reshape(out, B, K), p.Cfg.Scale)
}

// Data is a set of programs (as padded token ids) prepared for the proxy.
type Data struct {
	Programs [][]string
	ids      []int32 // [N,T]
	lengths  []int32 // [N], through EOS
	T        int
}

// NewData encodes programs for the proxy with sequences of length T.
func (p *Proxy) NewData(programs [][]string, T int) (*Data, error) {
	d := &Data{Programs: programs, ids: make([]int32, len(programs)*T), lengths: make([]int32, len(programs)), T: T}
	for i, prog := range programs {
		ids, err := p.Vocab.Encode(prog)
		if err != nil {
			return nil, fmt.Errorf("proxy data, program %d %q: %w", i, prog, err)
		}
		if len(ids)+1 > T {
			return nil, fmt.Errorf("proxy data, program %d: %d tokens, want at most %d", i, len(ids), T-1)
		}
		copy(d.ids[i*T:], ids)
		d.ids[i*T+len(ids)] = seq2seq.EOS
		d.lengths[i] = int32(len(ids) + 1)
	}
	return d, nil
}

// RandomInputs draws n*K input triples from rng.
func (p *Proxy) RandomInputs(rng *rand.Rand, n int) []rpn.Env {
	r := int64(p.Cfg.InputRange)
	envs := make([]rpn.Env, n*p.Cfg.K)
	for i := range envs {
		envs[i] = rpn.Env{A: rng.Int64N(2*r+1) - r, B: rng.Int64N(2*r+1) - r, C: rng.Int64N(2*r+1) - r}
	}
	return envs
}

// Targets runs each program on its K inputs and returns the inputs [n,K,3] and outputs [n,K]
// as float32 tensors. A program that fails to run is an error naming it.
func Targets(d rpn.Dialect, programs [][]string, envs []rpn.Env, K int) (inputs, outputs *tensors.Tensor, err error) {
	n := len(programs)
	in, out := make([]float32, n*K*3), make([]float32, n*K)
	for i, prog := range programs {
		for k := range K {
			e := envs[i*K+k]
			v, err := rpn.Eval(prog, d, e)
			if err != nil {
				return nil, nil, fmt.Errorf("program %q on %+v: %w", prog, e, err)
			}
			in[(i*K+k)*3], in[(i*K+k)*3+1], in[(i*K+k)*3+2] = float32(e.A), float32(e.B), float32(e.C)
			out[i*K+k] = float32(v)
		}
	}
	return tensors.FromFlatDataAndDimensions(in, n, K, 3), tensors.FromFlatDataAndDimensions(out, n, K), nil
}

// OneHot returns every program as one-hot rows [N,T,V] and the lengths [N] through EOS.
func (d *Data) OneHot(V int) (dist, lengths *tensors.Tensor) {
	idx := make([]int, len(d.Programs))
	for i := range idx {
		idx[i] = i
	}
	dist, lengths, _ = d.batch(idx, V)
	return dist, lengths
}

// batch returns the one-hot distributions [B,T,V], lengths [B] of rows idx.
func (d *Data) batch(idx []int, V int) (*tensors.Tensor, *tensors.Tensor, [][]string) {
	B, T := len(idx), d.T
	oh := make([]float32, B*T*V)
	lens := make([]int32, B)
	progs := make([][]string, B)
	for r, i := range idx {
		for t := range T {
			oh[(r*T+t)*V+int(d.ids[i*T+t])] = 1
		}
		lens[r] = d.lengths[i]
		progs[r] = d.Programs[i]
	}
	return tensors.FromFlatDataAndDimensions(oh, B, T, V), tensors.FromFlatDataAndDimensions(lens, B), progs
}

// Trained is a proxy with its weights.
type Trained struct {
	*Proxy
	Backend compute.Backend
	Store   *model.Store
	Dialect rpn.Dialect
	Batch   int
	eval    *model.Exec
}

// New creates an untrained proxy for dialect d with weights drawn from seed.
func New(backend compute.Backend, cfg Config, vocab *seq2seq.Vocab, d rpn.Dialect, batch int, seed int64) (*Trained, error) {
	store, err := trainer.NewStore(seed)
	if err != nil {
		return nil, err
	}
	return &Trained{Proxy: &Proxy{Cfg: cfg, Vocab: vocab}, Backend: backend, Store: store, Dialect: d, Batch: batch}, nil
}

// Fit pre-trains the proxy on programs with fresh random inputs every epoch (MSE in units of
// Scale, Adam) and calls progress after each epoch with the epoch's mean training MSE in raw units.
func (t *Trained) Fit(train *Data, epochs int, lr float64, rng *rand.Rand, progress func(epoch int, mse float64)) error {
	step, err := trainer.NewStep(t.Backend, t.Store, "/"+Scope, optimizer.Adam().LearningRate(lr).Done(), "proxy",
		func(root *model.Scope, in []*Node) (*Node, []*Node) {
			pred := t.Predict(root.In(Scope), in[0], in[1], in[2])
			diff := DivScalar(Sub(pred, in[3]), t.Cfg.Scale)
			return ReduceAllMean(Square(diff)), nil
		})
	if err != nil {
		return err
	}
	V := t.Vocab.Size()
	n := len(train.Programs)
	if n < t.Batch {
		return fmt.Errorf("proxy: %d training programs is less than one batch of %d", n, t.Batch)
	}
	for epoch := range epochs {
		order := rng.Perm(n)
		sum, count := 0.0, 0
		for i := 0; i+t.Batch <= n; i += t.Batch {
			idx := order[i : i+t.Batch]
			dist, lens, progs := train.batch(idx, V)
			in, out, err := Targets(t.Dialect, progs, t.RandomInputs(rng, len(idx)), t.Cfg.K)
			if err != nil {
				return err
			}
			vals, err := step.Run(dist, lens, in, out)
			if err != nil {
				return err
			}
			sum += vals[0]
			count++
		}
		if progress != nil {
			progress(epoch, sum/float64(count)*t.Cfg.Scale*t.Cfg.Scale)
		}
	}
	return nil
}

// MSE is the mean squared error in raw output units of the proxy on data, with inputs drawn
// from rng (the seed reports 28.8 for its proxy).
func (t *Trained) MSE(data *Data, rng *rand.Rand) (float64, error) {
	if t.eval == nil {
		exec, err := trainer.NewExec(t.Backend, t.Store, "proxy-eval", func(root *model.Scope, in []*Node) []*Node {
			return []*Node{t.Predict(root.In(Scope), in[0], in[1], in[2])}
		})
		if err != nil {
			return 0, err
		}
		t.eval = exec
	}
	V := t.Vocab.Size()
	n := len(data.Programs)
	sum, count := 0.0, 0
	for i := 0; i < n; i += t.Batch {
		idx := make([]int, t.Batch)
		real := min(t.Batch, n-i)
		for r := range idx {
			idx[r] = i + min(r, real-1)
		}
		dist, lens, progs := data.batch(idx, V)
		in, out, err := Targets(t.Dialect, progs, t.RandomInputs(rng, len(idx)), t.Cfg.K)
		if err != nil {
			return 0, err
		}
		res, err := t.eval.Call(dist, lens, in)
		if err != nil {
			return 0, err
		}
		pred := tensors.MustCopyFlatData[float32](res[0])
		truth := tensors.MustCopyFlatData[float32](out)
		for j := range real * t.Cfg.K {
			d := float64(pred[j] - truth[j])
			sum += d * d
			count++
		}
	}
	if count == 0 {
		return math.NaN(), fmt.Errorf("proxy: no programs to evaluate")
	}
	return sum / float64(count), nil
}

package def

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/execfeed/execfeed/lib/proxy"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/trainer"
)

// GradReport measures how well the proxy's gradient with respect to its input tokens points
// where the true executor's does.
//
// For a real program p (one-hot rows) the output, seen as a function of the token distributions,
// is multilinear, so moving probability mass at position t from the current token to token v
// changes the expected output at the rate f(p with t←v) - f(p): a finite difference of the true
// interpreter. The proxy's rate along the same direction is ∂proxy/∂p_t(v) - ∂proxy/∂p_t(p_t).
// Both are summed over the K inputs. Directions that make a malformed program are skipped.
type GradReport struct {
	Programs      int     `json:"programs"`
	Directions    int     `json:"directions"`
	MeanCosine    float64 `json:"mean_cosine"`    // mean over programs of cos(proxy, true) across directions
	SignAgreement float64 `json:"sign_agreement"` // fraction of directions with a non-zero true change whose sign the proxy gets right
}

// GradientQuality computes a GradReport for a trained proxy on programs (inputs drawn from rng).
func GradientQuality(px *proxy.Trained, programs [][]string, rng *rand.Rand) (GradReport, error) {
	return gradientQuality(px.Backend, px.Store, px.Proxy, px.Proxy, px.Dialect, px.Batch, programs, rng)
}

// ExactGradientQuality computes the same GradReport for the exact executor, with K input triples
// per program drawn from [-inputRange, inputRange] as the proxy draws them: given an rng in the
// same state, both are measured on the same programs and inputs.
func ExactGradientQuality(backend compute.Backend, ex *Exact, K, inputRange, batch int, programs [][]string, rng *rand.Rand) (GradReport, error) {
	shell := &proxy.Proxy{Cfg: proxy.Config{K: K, InputRange: inputRange}, Vocab: ex.Vocab} // encodes programs, draws inputs
	return gradientQuality(backend, model.NewStore(), ex, shell, rpn.Basic, batch, programs, rng)
}

// gradientQuality measures executor x; px encodes the programs and draws the inputs.
func gradientQuality(backend compute.Backend, store *model.Store, x Executor, px *proxy.Proxy, d rpn.Dialect, B int,
	programs [][]string, rng *rand.Rand) (GradReport, error) {
	exec, err := trainer.NewExec(backend, store, "executor-grad", func(root *model.Scope, in []*Node) []*Node {
		pred := x.Predict(root.In(proxy.Scope), in[0], in[1], in[2])
		return []*Node{Gradient(ReduceAllSum(pred), in[0])[0]}
	})
	if err != nil {
		return GradReport{}, err
	}
	V, K := px.Vocab.Size(), px.Cfg.K
	T := 0
	for _, p := range programs {
		T = max(T, len(p)+1)
	}
	tokens := px.Vocab.Tokens[4:] // program tokens, no specials
	var rep GradReport
	var cosSum float64
	agree, signed := 0, 0
	for start := 0; start < len(programs); start += B {
		batch := programs[start:min(start+B, len(programs))]
		padded := make([][]string, B)
		for i := range padded {
			padded[i] = batch[min(i, len(batch)-1)]
		}
		data, err := px.NewData(padded, T)
		if err != nil {
			return rep, err
		}
		envs := px.RandomInputs(rng, B)
		dist, lens := data.OneHot(V)
		in, _, err := proxy.Targets(d, padded, envs, K)
		if err != nil {
			return rep, err
		}
		res, err := exec.Call(dist, lens, in)
		if err != nil {
			return rep, fmt.Errorf("proxy gradient: %w", err)
		}
		grad := tensors.MustCopyFlatData[float32](res[0])
		res[0].FinalizeAll()
		for i, prog := range batch {
			base := sumOutputs(d, prog, envs[i*K:(i+1)*K])
			var dot, nt, np float64
			for t, cur := range prog {
				curID, _ := px.Vocab.ID(cur)
				for _, v := range tokens {
					if v == cur {
						continue
					}
					mut := append(append(append([]string{}, prog[:t]...), v), prog[t+1:]...)
					if rpn.Check(mut, d) != nil {
						continue
					}
					f := sumOutputs(d, mut, envs[i*K:(i+1)*K])
					if math.IsNaN(f) {
						continue
					}
					vID, _ := px.Vocab.ID(v)
					trueRate := f - base
					proxyRate := float64(grad[(i*T+t)*V+int(vID)] - grad[(i*T+t)*V+int(curID)])
					dot, nt, np = dot+trueRate*proxyRate, nt+trueRate*trueRate, np+proxyRate*proxyRate
					rep.Directions++
					if trueRate != 0 {
						signed++
						if (trueRate > 0) == (proxyRate > 0) {
							agree++
						}
					}
				}
			}
			if nt > 0 && np > 0 {
				cosSum += dot / math.Sqrt(nt*np)
				rep.Programs++
			}
		}
	}
	if rep.Programs == 0 {
		return rep, fmt.Errorf("no program had a measurable direction")
	}
	rep.MeanCosine = cosSum / float64(rep.Programs)
	rep.SignAgreement = float64(agree) / float64(max(signed, 1))
	return rep, nil
}

func sumOutputs(d rpn.Dialect, prog []string, envs []rpn.Env) float64 {
	s := 0.0
	for _, e := range envs {
		v, err := rpn.Eval(prog, d, e)
		if err != nil {
			return math.NaN()
		}
		s += float64(v)
	}
	return s
}

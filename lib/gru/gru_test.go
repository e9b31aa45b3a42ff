package gru

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

const B, T, In, H = 2, 3, 3, 4

// setup returns an exec computing (loss, dloss/dx, dloss/dh0, all states) for
// loss = Σ states ⊙ weights, where lengths masks the second row after 2 steps.
func setup(t *testing.T) (*model.Exec, *model.Store) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	store.SetRNGStateFromSeed(7)
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, in []*Node) []*Node {
		scope.SetTraining(in[0].Graph(), true)
		x, h0, w, lengths := in[0], in[1], in[2], in[3]
		all, _ := New(scope.In("g"), x.Graph(), In, H).Sequence(x, h0, lengths)
		loss := ReduceAllSum(Mul(all, w))
		grads := Gradient(loss, x, h0)
		return []*Node{loss, grads[0], grads[1], all}
	})
	if err != nil {
		t.Fatal(err)
	}
	return exec, store
}

func randFlat(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}

func TestGRUMatchesEquationsAndGradients(t *testing.T) {
	exec, store := setup(t)
	rng := rand.New(rand.NewPCG(1, 2))
	x, h0, w := randFlat(rng, B*T*In), randFlat(rng, B*H), randFlat(rng, B*T*H)
	lengths := []int32{3, 2}
	run := func(x, h0 []float32) (float64, []float32, []float32, []float32) {
		res, err := exec.Call(tensors.FromFlatDataAndDimensions(x, B, T, In), tensors.FromFlatDataAndDimensions(h0, B, H),
			tensors.FromFlatDataAndDimensions(w, B, T, H), tensors.FromFlatDataAndDimensions(lengths, B))
		if err != nil {
			t.Fatal(err)
		}
		return float64(res[0].Value().(float32)), tensors.MustCopyFlatData[float32](res[1]),
			tensors.MustCopyFlatData[float32](res[2]), tensors.MustCopyFlatData[float32](res[3])
	}
	loss, gx, gh, all := run(x, h0)

	// Forward pass against the equations, written out in plain Go.
	get := func(name string) []float32 {
		v, err := store.GetVariable("/g/" + name).Value()
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](v)
	}
	W, U, bW, bU := get("W"), get("U"), get("bW"), get("bU")
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	for b := range B {
		h := make([]float64, H)
		for j := range H {
			h[j] = float64(h0[b*H+j])
		}
		for s := range T {
			if s < int(lengths[b]) {
				proj := func(gate, j int) (xp, hp float64) {
					col := gate*H + j
					xp, hp = float64(bW[col]), float64(bU[col])
					for i := range In {
						xp += float64(x[(b*T+s)*In+i]) * float64(W[i*3*H+col])
					}
					for i := range H {
						hp += h[i] * float64(U[i*3*H+col])
					}
					return
				}
				next := make([]float64, H)
				for j := range H {
					xr, hr := proj(0, j)
					xz, hz := proj(1, j)
					xn, hn := proj(2, j)
					r, z := sig(xr+hr), sig(xz+hz)
					n := math.Tanh(xn + r*hn)
					next[j] = (1-z)*n + z*h[j]
				}
				h = next
			}
			for j := range H {
				if got := float64(all[(b*T+s)*H+j]); math.Abs(got-h[j]) > 1e-5 {
					t.Fatalf("state b=%d t=%d j=%d: graph %g, equations %g", b, s, j, got, h[j])
				}
			}
		}
	}

	// Gradients against central finite differences (float32: eps 1e-2, tolerance 2e-3).
	const eps = 1e-2
	check := func(name string, vec []float32, grad []float32, perturb func([]float32) float64) {
		for i := range vec {
			orig := vec[i]
			vec[i] = orig + eps
			up := perturb(vec)
			vec[i] = orig - eps
			down := perturb(vec)
			vec[i] = orig
			num := (up - down) / (2 * eps)
			if math.Abs(num-float64(grad[i])) > 2e-3*math.Max(1, math.Abs(num)) {
				t.Errorf("d loss/d %s[%d]: autodiff %g, finite difference %g", name, i, grad[i], num)
			}
		}
	}
	check("x", x, gx, func(v []float32) float64 { l, _, _, _ := run(v, h0); return l })
	check("h0", h0, gh, func(v []float32) float64 { l, _, _, _ := run(x, v); return l })
	// Masked steps of row 1 (t=2) must not influence the loss through x.
	for i := range In {
		if g := gx[(1*T+2)*In+i]; g != 0 {
			t.Errorf("gradient %g flows into a masked position", g)
		}
	}
	_ = loss
}

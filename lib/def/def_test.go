package def

import (
	"math"
	"testing"

	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/execfeed/execfeed/lib/trainer"
)

// TestGumbelSoftmaxStatistics: the argmax of Gumbel-softmax samples is distributed as
// softmax(logits) (the Gumbel-max trick), soft samples are distributions, and the straight-
// through variant is exactly one-hot in the forward pass with the soft sample's gradient.
func TestGumbelSoftmaxStatistics(t *testing.T) {
	const N, V = 20000, 4
	logits := []float32{1, 0, -1, 0.5}
	store := model.NewStore()
	store.SetRNGStateFromSeed(11)
	exec, err := trainer.NewExec(gobackend.GetBackend(), store, "gumbel", func(scope *model.Scope, in []*Node) []*Node {
		l := BroadcastToDims(ExpandAxes(in[0], 0), N, V)
		soft := GumbelSoftmax(scope, l, in[1], false)
		st := GumbelSoftmax(scope, l, in[1], true)
		// Gradient of Σ st ⊙ w with respect to the logits must equal that of the soft sample
		// it came from: non-zero although the forward value is piecewise constant.
		w := Iota(in[0].Graph(), l.Shape(), 1)
		grad := Gradient(ReduceAllSum(Mul(st, ConvertDType(w, st.DType()))), in[0])[0]
		return []*Node{soft, st, grad}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Call(tensors.FromFlatDataAndDimensions(logits, V), float32(1))
	if err != nil {
		t.Fatal(err)
	}
	soft := tensors.MustCopyFlatData[float32](res[0])
	st := tensors.MustCopyFlatData[float32](res[1])
	grad := tensors.MustCopyFlatData[float32](res[2])
	counts := make([]float64, V)
	for i := range N {
		sum, best := 0.0, 0
		ones, zeros := 0, 0
		for v := range V {
			sum += float64(soft[i*V+v])
			if soft[i*V+v] > soft[i*V+best] {
				best = v
			}
			switch st[i*V+v] {
			case 1:
				ones++
			case 0:
				zeros++
			}
		}
		if math.Abs(sum-1) > 1e-4 {
			t.Fatalf("soft sample %d sums to %v", i, sum)
		}
		if ones != 1 || zeros != V-1 {
			t.Fatalf("straight-through sample %d is not one-hot: %v", i, st[i*V:(i+1)*V])
		}
		counts[best]++
	}
	var z float64
	for _, l := range logits {
		z += math.Exp(float64(l))
	}
	for v, l := range logits {
		p := math.Exp(float64(l)) / z
		freq := counts[v] / N
		se := math.Sqrt(p * (1 - p) / N)
		if math.Abs(freq-p) > 5*se {
			t.Errorf("token %d: argmax frequency %.4f, softmax probability %.4f (5 s.e. = %.4f)", v, freq, p, 5*se)
		}
	}
	nonzero := 0
	for _, g := range grad {
		if g != 0 && !math.IsNaN(float64(g)) {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("straight-through passes no gradient to the logits")
	}
}

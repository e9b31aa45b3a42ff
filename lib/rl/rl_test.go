package rl

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/sandbox"
)

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-4 {
		t.Errorf("%s = %.6f, want %.6f", what, got, want)
	}
}

func scalars(t *testing.T, fn func(g *Graph) []*Node) []float64 {
	t.Helper()
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	outs, err := ExecOnceN(backend, func(g *Graph) []*Node { return fn(g) })
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]float64, len(outs))
	for i, o := range outs {
		vals[i] = float64(o.Value().(float32))
	}
	return vals
}

func TestDPOLossHandComputed(t *testing.T) {
	// Pair 1: logits = β[(π_c - ref_c) - (π_r - ref_r)] = 0.1·[(-1 + 1.5) - (-2 + 1.5)] = 0.1.
	//         loss = -log σ(0.1) = log(1 + e^-0.1) = 0.644397.
	// Pair 2: logits = 0.1·[(-3 + 1) - (-1 + 1)] = -0.2: loss = log(1 + e^0.2) = 0.798139.
	// Pair 3 is padding (valid 0) with a huge logit that must not count.
	vals := scalars(t, func(g *Graph) []*Node {
		c := func(x ...float32) *Node { return Const(g, x) }
		loss, margin, acc := DPOLoss(c(-1, -3, 100), c(-2, -1, -100), c(-1.5, -1, 0), c(-1.5, -1, 0), c(1, 1, 0), 0.1)
		return []*Node{loss, margin, acc}
	})
	near(t, "DPO loss", vals[0], (0.644397+0.798139)/2)
	near(t, "margin", vals[1], (0.1-0.2)/2)
	near(t, "pair accuracy", vals[2], 0.5)
}

func TestClippedSurrogateAndKL(t *testing.T) {
	// One program, three tokens (the fourth position is masked out):
	//   ratio e^{ln 1.5} = 1.5, A = +1: min(1.5, 1.2) = 1.2  (clipped)
	//   ratio 0.5, A = -1: min(-0.5, -0.8) = -0.8            (clipped)
	//   ratio 1, A = 2: 2                                    (not clipped)
	// loss = -(1.2 - 0.8 + 2) = -2.4 per program; 2 of 3 tokens clipped.
	// KL k3 with log π_ref - log π = d: e^d - d - 1 for d = -1, 0, 1: 0.367879 + 0 + 0.718282.
	vals := scalars(t, func(g *Graph) []*Node {
		m := func(x ...float32) *Node { return Reshape(Const(g, x), 1, 4) }
		logp := m(float32(math.Log(1.5)), float32(math.Log(0.5)), -1, 7)
		old := m(0, 0, -1, 0)
		loss, clipped := ClippedSurrogate(logp, old, m(1, -1, 2, 5), m(1, 1, 1, 0), 0.2)
		kl := KL(m(-1, -1, -1, -1), m(-2, -1, 0, 9), m(1, 1, 1, 0))
		return []*Node{loss, clipped, kl}
	})
	near(t, "clipped surrogate", vals[0], -2.4)
	near(t, "clipped fraction", vals[1], 2.0/3)
	near(t, "KL k3", vals[2], math.Exp(-1)+math.E-2)
}

func TestPolicyGradientIsWeightedLogLikelihood(t *testing.T) {
	// Two programs: -(0.5·-1 + 0.5·-2)/2 - (-1·-0.5)/2 = 0.75 - 0.25 = 0.5.
	vals := scalars(t, func(g *Graph) []*Node {
		m := func(x ...float32) *Node { return Reshape(Const(g, x), 2, 2) }
		return []*Node{PolicyGradient(m(-1, -2, -0.5, -9), m(0.5, 0.5, -1, 0), m(1, 1, 1, 0))}
	})
	near(t, "policy gradient loss", vals[0], 0.5)
}

func TestGroupAdvantages(t *testing.T) {
	// Group 1: rewards 1,0,0,0: mean 0.25, population std √0.1875 = 0.433013.
	// Group 2: all equal: no signal, advantage 0.
	adv, err := GroupAdvantages([]float64{1, 0, 0, 0, 1, 1, 1, 1}, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1.732051, -0.577350, -0.577350, -0.577350, 0, 0, 0, 0}
	for i := range want {
		near(t, "advantage", adv[i], want[i])
	}
}

func TestGAE(t *testing.T) {
	// r = (0, 0, 1), V = 0.5 everywhere, γ = 1, λ = 0.5:
	// δ = (0, 0, 0.5); A_2 = 0.5, A_1 = 0 + 0.5·0.5 = 0.25, A_0 = 0.125; R = A + V.
	adv, ret, err := GAE([]float64{0, 0, 1}, []float64{0.5, 0.5, 0.5}, 1, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{0.125, 0.25, 0.5} {
		near(t, "GAE advantage", adv[i], want)
		near(t, "GAE return", ret[i], want+0.5)
	}
}

func TestTracePreference(t *testing.T) {
	pass := reward.Sample{Outcome: sandbox.PassedTest, StepsCorrect: 5}
	failLong := reward.Sample{Outcome: sandbox.FailedTest, StepsCorrect: 4}
	failShort := reward.Sample{Outcome: sandbox.RuntimeError, StepsCorrect: 1}
	for _, tc := range []struct {
		a, b reward.Sample
		sign int
	}{
		{pass, failLong, 1}, {failLong, pass, -1}, {failLong, failShort, 1}, {failShort, failLong, -1},
		{pass, pass, 0}, {failLong, failLong, 0},
	} {
		got := TracePreference(tc.a, tc.b)
		if (got > 0) != (tc.sign > 0) || (got < 0) != (tc.sign < 0) {
			t.Errorf("TracePreference(%v/%d, %v/%d) = %d, want sign %d", tc.a.Outcome, tc.a.StepsCorrect,
				tc.b.Outcome, tc.b.StepsCorrect, got, tc.sign)
		}
	}
}

func TestPairsDropTiesAndDuplicates(t *testing.T) {
	// One group of four: a pass, two different failing programs (4 and 1 steps right) and a copy
	// of the passing program. Pairs: pass>f4, pass>f1, f4>f1, copy>f4, copy>f1; pass/copy is the
	// same program (dropped).
	s := func(o sandbox.Outcome, steps int) reward.Sample {
		return reward.Sample{Outcome: o, StepsCorrect: steps}
	}
	ro := &Rollout{N: 4,
		Programs: []string{"a b +", "a b -", "a a -", "a b +"},
		Samples:  []reward.Sample{s(sandbox.PassedTest, 3), s(sandbox.FailedTest, 2), s(sandbox.FailedTest, 1), s(sandbox.PassedTest, 3)},
	}
	pairs, err := Pairs(ro, 4, TracePreference)
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{{0, 1}, {0, 2}, {1, 2}, {3, 1}, {3, 2}}
	if len(pairs) != len(want) {
		t.Fatalf("pairs %v, want %v", pairs, want)
	}
	for i := range want {
		if pairs[i] != want[i] {
			t.Errorf("pair %d = %v, want %v", i, pairs[i], want[i])
		}
	}
}

func TestPromptsGroups(t *testing.T) {
	p, err := NewPrompts(10, 3, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	for range 3 {
		rows := p.Next()
		if len(rows) != 6 {
			t.Fatalf("rows %v, want 6", rows)
		}
		for i := 0; i < 6; i += 2 {
			if rows[i] != rows[i+1] {
				t.Errorf("group not contiguous: %v", rows)
			}
			seen[rows[i]]++
		}
	}
	if len(seen) != 9 {
		t.Errorf("one pass over 10 prompts in batches of 3 should visit 9 distinct prompts, got %v", seen)
	}
	if _, err := NewPrompts(2, 3, 1, 1); err == nil {
		t.Errorf("more prompts per batch than prompts must be an error")
	}
}

func TestCriticWeightsBalanced(t *testing.T) {
	// Five rows: classes 0, 0, 0, 2 and a padding row (valid 0) of class 1. Plain: 1/4 per real
	// row. Balanced: two classes present; class 0 has 3 rows (1/6 each), class 2 one (1/2).
	classes := []int32{0, 0, 0, 2, 1}
	valid := []float32{1, 1, 1, 1, 0}
	for _, tc := range []struct {
		balanced bool
		want     []float64
	}{{false, []float64{0.25, 0.25, 0.25, 0.25, 0}}, {true, []float64{1.0 / 6, 1.0 / 6, 1.0 / 6, 0.5, 0}}} {
		got := scalars(t, func(g *Graph) []*Node {
			onehot := OneHot(Const(g, classes), 3, dtypes.Float32)
			w := criticWeights(onehot, Const(g, valid), tc.balanced)
			var out []*Node
			for i := range classes {
				out = append(out, Squeeze(Slice(w, AxisElem(i))))
			}
			return out
		})
		for i, w := range tc.want {
			near(t, fmt.Sprintf("balanced %v: ω_%d", tc.balanced, i), got[i], w)
		}
	}
}

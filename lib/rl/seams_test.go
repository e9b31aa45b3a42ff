package rl

import (
	"go/parser"
	"go/token"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/sandbox"
)

func TestAggregationVariants(t *testing.T) {
	// Two programs: tokens (1, 2, 3) and (4), A = 1 and ratio 1 everywhere (logp == old), so the
	// unclipped term equals A·1 and the loss is -aggregate(A·mask):
	//   sum      -(3 + 1)/2        = -2      (Σ_t per program, mean over programs)
	//   grpo     -(3/3 + 1/1)/2    = -1      (mean per program, then over programs)
	//   dr_grpo  -(3 + 1)/(2·4)    = -0.5    (constant L = 4)
	//   dapo     -(3 + 1)/4        = -1      (mean over the 4 tokens)
	// With weights w = (1, 1, 1 | 3) instead of 1: sum -(3+3)/2 = -3, grpo -(1+3)/2 = -2,
	// dr_grpo -6/8 = -0.75, dapo -6/4 = -1.5.
	for _, tc := range []struct {
		agg  Aggregation
		want float64
	}{{SumPerProgram, -3}, {PerSequenceMean, -2}, {ConstantLength, -0.75}, {TokenMean, -1.5}} {
		vals := scalars(t, func(g *Graph) []*Node {
			m := func(x ...float32) *Node { return Reshape(Const(g, x), 2, 4) }
			logp := m(-1, -1, -1, 0, -2, 0, 0, 0)
			loss, _ := ClippedSurrogateAgg(logp, logp, m(1, 1, 1, 0, 3, 0, 0, 0), m(1, 1, 1, 0, 1, 0, 0, 0), 0.2, 0, tc.agg, 4)
			return []*Node{loss}
		})
		near(t, string(tc.agg), vals[0], tc.want)
	}
	// DAPO's clip-higher: ratio 1.25 with A = 1 is clipped at 1.2 by ε = 0.2, kept by ε_high = 0.28.
	vals := scalars(t, func(g *Graph) []*Node {
		m := func(x ...float32) *Node { return Reshape(Const(g, x), 1, 1) }
		l1, _ := ClippedSurrogateAgg(m(float32(math.Log(1.25))), m(0), m(1), m(1), 0.2, 0, TokenMean, 1)
		l2, _ := ClippedSurrogateAgg(m(float32(math.Log(1.25))), m(0), m(1), m(1), 0.2, 0.28, TokenMean, 1)
		return []*Node{l1, l2}
	})
	near(t, "symmetric clip", vals[0], -1.2)
	near(t, "clip-higher", vals[1], -1.25)
	if _, err := ParseAggregation("grpo++"); err == nil {
		t.Errorf("unknown loss variant accepted")
	}
}

func TestScaledAdvantages(t *testing.T) {
	rewards := []float64{1, 0, 0, 0, 1, 1, 3, 3}
	adv, equal, _ := ScaledAdvantages(rewards, 4, "none")
	want := []float64{0.75, -0.25, -0.25, -0.25, -1, -1, 1, 1}
	for i := range want {
		near(t, "none", adv[i], want[i])
	}
	if equal != 0 {
		t.Errorf("equal groups %v, want 0", equal)
	}
	adv, _, _ = ScaledAdvantages(rewards, 4, "group") // group std √(3/16) and 1
	near(t, "group", adv[0], 0.75/math.Sqrt(3.0/16))
	near(t, "group", adv[4], -1)
	_, sd := meanStd(rewards)
	adv, _, _ = ScaledAdvantages(rewards, 4, "batch")
	near(t, "batch", adv[0], 0.75/sd)
	if _, equal, _ = ScaledAdvantages([]float64{1, 1, 0, 1}, 2, "group"); equal != 0.5 {
		t.Errorf("fraction of all-equal groups %v, want 0.5", equal)
	}
}

func TestRewardsNameTheFailingReward(t *testing.T) {
	s := reward.Sample{Program: "x", Outcome: sandbox.PassedTest}
	rs := Rewards{Terms: []NamedReward{{"pass", 1, Passed}, {"len", 0.5, func(s reward.Sample) float64 { return float64(len(s.Program)) }}}}
	total, parts, err := rs.score(s)
	if err != nil || total != 1.5 || parts["pass"] != 1 || parts["len"] != 1 {
		t.Fatalf("score = %v %v %v, want 1.5 with parts 1 and 1", total, parts, err)
	}
	for _, tc := range []struct {
		name string
		f    reward.Func
		msg  string
	}{
		{"boom", func(reward.Sample) float64 { panic("no") }, "panicked"},
		{"nan", func(reward.Sample) float64 { return math.NaN() }, "NaN"},
		{"slow", func(reward.Sample) float64 { time.Sleep(time.Second); return 0 }, "did not return"},
	} {
		rs := Rewards{Terms: []NamedReward{{tc.name, 1, tc.f}}, Timeout: 50 * time.Millisecond}
		_, _, err := rs.score(s)
		if err == nil || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want one naming the reward and saying %q", tc.name, err, tc.msg)
		}
	}
	if err := (Rewards{Terms: []NamedReward{{"a", 1, Passed}, {"a", 1, Passed}}}).validate(); err == nil {
		t.Errorf("two rewards with one name accepted")
	}
}

// wordPolicy is a Policy stand-in for the pure functions that only decode: id i writes words[i].
type wordPolicy struct {
	Policy
	words []string
}

func (p wordPolicy) Decode(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(p.words[id])
	}
	return b.String()
}

// lineLang blames a fixed byte span.
type lineLang struct {
	Language
	start, end int
}

func (l lineLang) NeedsTrace() bool { return false }

func (l lineLang) Divergence(Prompt, string, sandbox.Result, sandbox.Result) (int, int, bool, error) {
	return l.start, l.end, true, nil
}

func TestTokenSpanAndEGCAMask(t *testing.T) {
	// Tokens write "def f", "(x):\n", "  y = x", " + 1\n", "  return y\n", then the end token "".
	pol := wordPolicy{words: []string{"def f", "(x):\n", "  y = x", " + 1\n", "  return y\n", ""}}
	ro := &Rollout{Policy: pol, N: 1, T: 8, Rows: []int{0}, Tokens: []int32{0, 1, 2, 3, 4, 5, 0, 0}, Lengths: []int{6}}
	ro.Programs = []string{pol.Decode(ro.Tokens[:6])}
	src := ro.Programs[0]
	line := strings.Index(src, "  y = x")
	for _, tc := range []struct {
		start, end, first, last int
		ok                      bool
	}{
		{line, line + len("  y = x + 1"), 2, 3, true}, // the line "  y = x + 1" spans tokens 2 and 3
		{0, 3, 0, 0, true},
		{len(src), len(src), 5, 5, true}, // the end of the program: the end token
	} {
		first, last, ok := ro.TokenSpan(0, tc.start, tc.end)
		if ok != tc.ok || first != tc.first || last != tc.last {
			t.Errorf("TokenSpan(%d, %d) = %d, %d, %v; want %d, %d", tc.start, tc.end, first, last, ok, tc.first, tc.last)
		}
	}
	full := &Rollout{Policy: pol, N: 1, T: 5, Rows: []int{0}, Tokens: []int32{0, 1, 2, 3, 4}, Lengths: []int{5}}
	full.Programs = []string{pol.Decode(full.Tokens)}
	if _, _, ok := full.TokenSpan(0, len(full.Programs[0]), len(full.Programs[0])); ok {
		t.Errorf("a row without an end token has nothing to blame at its end")
	}

	task := &Task{Name: "t", Lang: lineLang{start: line, end: line + len("  y = x + 1")}, Prompts: []Prompt{{ID: "p"}}}
	ro.Task = task
	ro.Results = []sandbox.Result{{Outcome: sandbox.FailedTest}}
	ro.Samples = make([]reward.Sample, 1)
	adv := []float32{-1, -1, -1, -1, -1, -1, 0, 0}
	mask, err := ro.Mask()
	if err != nil {
		t.Fatal(err)
	}
	n, err := EGCAMask(ro, []float64{-1}, adv, mask)
	if err != nil || n != 1 {
		t.Fatalf("EGCAMask localised %d, %v", n, err)
	}
	wantAdv := []float32{0, 0, -1, -1, 0, 0, 0, 0}
	wantMask := []float32{1, 1, 1, 1, 0, 0, 0, 0}
	for i := range adv {
		if adv[i] != wantAdv[i] || mask[i] != wantMask[i] {
			t.Fatalf("advantages %v mask %v, want %v and %v", adv, mask, wantAdv, wantMask)
		}
	}
	if ro.Samples[0].DivergencePos != 2 {
		t.Errorf("DivergencePos %d, want 2", ro.Samples[0].DivergencePos)
	}
}

// TestNoLanguageOrModelImports keeps the seams honest: no file of lib/rl, tests included,
// imports a particular language (lib/rpn) or network (lib/seq2seq).
func TestNoLanguageOrModelImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files: %v", err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			for _, banned := range []string{"/lib/rpn\"", "/lib/seq2seq\"", "/lib/rpntask\"", "/lib/pytask\""} {
				if strings.HasSuffix(imp.Path.Value, banned) {
					t.Errorf("%s imports %s", f, imp.Path.Value)
				}
			}
		}
	}
}

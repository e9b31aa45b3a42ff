package pytask

import (
	"testing"

	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/sandbox"
)

// TestScriptedRewardSeesPythonSamples runs a reward written in Go at run time (yaegi) on the
// samples of a Python rollout: it reads the source, the per-test verdicts and the trace.
func TestScriptedRewardSeesPythonSamples(t *testing.T) {
	pool := newPool(t)
	task, err := NewTask("script", []Example{{Description: "double a", Code: "def f(a, b):\n    r = 2 * a\n    return r\n",
		Tests: []string{"assert f(1, 0) == 2", "assert f(3, 0) == 6"}}}, pool, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := `package main

import (
	"strings"

	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/sandbox"
)

// Reward: the share of tests passed, plus 10 if the program assigns r, plus 100 if its trace
// holds a step that returns 6.
func Reward(s reward.Sample) float64 {
	passed := 0
	for _, tr := range s.Tests {
		if tr.Outcome == sandbox.PassedTest {
			passed++
		}
	}
	score := float64(passed) / float64(len(s.Tests))
	if strings.Contains(s.Program, "r =") {
		score += 10
	}
	for _, st := range s.Trace {
		if st.Locals["<return>"] == "6" {
			score += 100
		}
	}
	return score
}
`
	script, err := reward.Load("python-reward", src, reward.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ro := &rl.Rollout{Task: task, Rows: []int{0}, N: 1, Programs: []string{"def f(a, b):\n    r = a + a\n    return r\n"},
		Lexemes: [][]string{nil}, Traced: true}
	if err := ro.Execute(script.Func()); err != nil {
		t.Fatal(err)
	}
	if ro.Rewards[0] != 111 {
		t.Errorf("scripted reward %v, want 111 (all tests, an assignment to r, a return of 6); sample %+v", ro.Rewards[0], ro.Samples[0])
	}
	// The structure rewards (eq. 4.8, 4.9) parse the sample as Python: the candidate (a + a for
	// 2 * a) shares some of the reference's subtrees and all of its data flow (a -> r -> return).
	ast, dfg := reward.AST(ro.Samples[0]), reward.DFG(ro.Samples[0])
	if ast <= 0 || ast >= 1 || dfg != 1 {
		t.Errorf("AST match %.3f, DFG match %.3f on a Python sample; want AST in (0, 1) and DFG 1", ast, dfg)
	}
}

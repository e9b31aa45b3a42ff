package reward

import (
	"math"
	"testing"

	"github.com/execfeed/execfeed/sandbox"
)

func TestStructure(t *testing.T) {
	ref := "a b + c *"
	tests := []struct {
		name     string
		s        Sample
		ast, dfg float64
	}{
		// (+ a b) matches, (- (+ a b) c) does not; the data flow is the same.
		{"rpn", Sample{Task: "rpn", Program: "b a + c -", Reference: ref}, 0.5, 1},
		{"malformed candidate", Sample{Task: "rpn", Program: "a +", Reference: ref}, 0, 0},
		{"bad reference", Sample{Task: "rpn", Program: ref, Reference: "a b"}, 0, 0},
		{"unknown task", Sample{Task: "cobol", Program: ref, Reference: ref}, 0, 0},
		{"humaneval", Sample{Task: "humaneval", Program: "def f(x):\n    return x\n",
			Reference: "def f(x):\n    return x\n"}, 1, 1},
	}
	for _, tc := range tests {
		if got := AST(tc.s); math.Abs(got-tc.ast) > 1e-12 {
			t.Errorf("%s: AST = %v, want %v (eq. 4.8)", tc.name, got, tc.ast)
		}
		if got := DFG(tc.s); math.Abs(got-tc.dfg) > 1e-12 {
			t.Errorf("%s: DFG = %v, want %v (eq. 4.9)", tc.name, got, tc.dfg)
		}
	}
	for _, n := range []string{"ast", "dfg"} {
		f, ok := Builtin(n)
		if !ok || f(tests[0].s) != map[string]float64{"ast": 0.5, "dfg": 1}[n] {
			t.Errorf("Builtin(%q) missing or not the %s reward", n, n)
		}
	}
	// Seed 004 combines the signals; Sum weights them.
	f := Sum([]float64{1, 0.5, 0.5}, Outcome, AST, DFG)
	s := tests[0].s
	s.Outcome = sandbox.FailedTest
	if got := f(s); math.Abs(got-(FailedTestReward+0.25+0.5)) > 1e-12 {
		t.Errorf("Sum(Outcome, AST, DFG) = %v", got)
	}
}

package sandbox

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/execfeed/execfeed/lib/rpn"
)

// randomProgram draws tokens of d, well-formed or not.
func randomProgram(r *rand.Rand, d rpn.Dialect) string {
	toks := d.Tokens()
	n := 1 + r.IntN(12)
	out := make([]string, n)
	for i := range out {
		out[i] = toks[r.IntN(len(toks))]
	}
	return strings.Join(out, " ")
}

// wellFormed draws a program that passes rpn.Check: operands and operators in stack order.
func wellFormed(r *rand.Rand, d rpn.Dialect) string {
	operands := []string{"a", "b", "c", "1", "2", "0"}
	ops := []string{"+", "-", "*"}
	if d == rpn.Ext {
		ops = append(ops, "/", "/", "swap")
	}
	var out []string
	depth := 0
	for n := 2 + r.IntN(5); n > 0 || depth > 1; {
		if depth < 2 || n > 0 && r.IntN(2) == 0 {
			out = append(out, operands[r.IntN(len(operands))])
			depth++
			n--
			continue
		}
		op := ops[r.IntN(len(ops))]
		out = append(out, op)
		if op != "swap" {
			depth--
		}
	}
	return strings.Join(out, " ")
}

// The compiled evaluator agrees with the language's own interpreter on values and errors.
func TestCompiledRPNMatchesInterpreter(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	checked := 0
	for range 20000 {
		d := rpn.Dialect(r.IntN(2))
		src := randomProgram(r, d)
		if r.IntN(2) == 0 {
			src = wellFormed(r, d)
		}
		env := rpn.Env{A: r.Int64N(21) - 10, B: r.Int64N(21) - 10, C: r.Int64N(3) - 1}
		want, _, werr := rpn.Run(rpn.Tokenize(src), d, env)
		p, err := CompileRPN(src, d)
		if (err != nil) != (werr != nil && !rpn.AsError(werr).IsRuntime()) {
			t.Fatalf("%q: compile error %v, interpreter error %v", src, err, werr)
		}
		if err != nil {
			continue
		}
		got, gerr := p.Eval(env)
		if got != want || (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
			t.Fatalf("%q on %+v: got %d, %v; interpreter %d, %v", src, env, got, gerr, want, werr)
		}
		checked++
	}
	if checked < 5000 {
		t.Fatalf("only %d well-formed programs drawn", checked)
	}
}

func TestRPNOutcomes(t *testing.T) {
	ex := &RPNExecutor{}
	tests := []Test{{Env: rpn.Env{A: 2, B: 3, C: 4}, Want: 20}, {Env: rpn.Env{A: 1, B: 1, C: 0}, Want: 0}}
	cases := []struct {
		lang   Language
		src    string
		want   Outcome
		passed int
	}{
		{RPN, "a b + c *", PassedTest, 2},
		{RPN, "c a b + *", PassedTest, 2},
		{RPN, "a b * c *", FailedTest, 1},
		{RPN, "a b +", FailedTest, 0},
		{RPN, "a b + *", CompileError, 0},
		{RPN, "a b", CompileError, 0},
		{RPN, "a b /", CompileError, 0}, // "/" is not in the basic dialect
		{RPNExt, "a b + c * c /", RuntimeError, 0},
		{RPNExt, "a b + dup - c dup * +", FailedTest, 1},
		{RPNExt, "c a b + swap *", PassedTest, 2},
	}
	for _, c := range cases {
		r, err := ex.Run(context.Background(), Program{Lang: c.lang, Source: c.src}, tests, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Outcome != c.want || r.Passed != c.passed {
			t.Errorf("%s %q: %v with %d passed, want %v with %d (%s)", c.lang, c.src, r.Outcome, r.Passed, c.want, c.passed, r.Error)
		}
	}
	if _, err := ex.Run(context.Background(), Program{Lang: Python, Source: "pass"}, nil, Options{}); err == nil {
		t.Error("RPN executor should refuse Python")
	}
}

func TestRPNTracesAndStepsCorrect(t *testing.T) {
	ex := &RPNExecutor{}
	tests := []Test{{Env: rpn.Env{A: 2, B: 3, C: 4}, Want: 20}}
	// Reference a b + c *: stacks [2] [2 3] [5] [5 4] [20].
	r, err := ex.Run(context.Background(), Program{Lang: RPN, Source: "a b + c +"}, tests, Options{Trace: true, Reference: "a b + c *"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != FailedTest || r.StepsCorrect != 4 {
		t.Errorf("outcome %v, steps correct %d; want FailedTest, 4", r.Outcome, r.StepsCorrect)
	}
	if len(r.Trace) != 5 || r.Trace[2].Pos != 2 || len(r.Trace[2].Stack) != 1 || r.Trace[2].Stack[0] != 5 || r.Trace[4].Stack[0] != 9 {
		t.Errorf("trace %+v", r.Trace)
	}
	// A commuted first step diverges at once, though the program is right: passing scores full length.
	r, _ = ex.Run(context.Background(), Program{Lang: RPN, Source: "b a + c -"}, tests, Options{Reference: "a b + c *"})
	if r.StepsCorrect != 0 {
		t.Errorf("steps correct %d, want 0", r.StepsCorrect)
	}
	r, _ = ex.Run(context.Background(), Program{Lang: RPN, Source: "b a + c *"}, tests, Options{Reference: "a b + c *"})
	if r.Outcome != PassedTest || r.StepsCorrect != 5 {
		t.Errorf("passing program: %v, steps %d", r.Outcome, r.StepsCorrect)
	}
	// Without a reference: tokens run before a runtime error (the "/" is token 6).
	r, _ = ex.Run(context.Background(), Program{Lang: RPNExt, Source: "a b + c 1 - /"}, []Test{{Env: rpn.Env{A: 1, B: 1, C: 1}}}, Options{Trace: true})
	if r.Outcome != RuntimeError || r.StepsCorrect != 6 || len(r.Trace) != 6 {
		t.Errorf("runtime error: %v, steps %d, trace %d", r.Outcome, r.StepsCorrect, len(r.Trace))
	}
	if MatchingPrefix([][]int64{{1}, {1, 2}}, [][]int64{{1}, {1, 3}, {4}}) != 1 || MatchingPrefix(nil, [][]int64{{1}}) != 0 {
		t.Error("MatchingPrefix")
	}
}

func TestRPNBatchMatchesRun(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var jobs []Job
	tests := []Test{{Env: rpn.Env{A: 1, B: 2, C: 3}, Want: 6}, {Env: rpn.Env{A: 0, B: -2, C: 0}, Want: -2}}
	for i := range 500 {
		src := randomProgram(r, rpn.Ext)
		if i%2 == 0 {
			src = wellFormed(r, rpn.Ext)
		}
		jobs = append(jobs, Job{Program: Program{Lang: RPNExt, Source: src}, Tests: tests})
	}
	ex := &RPNExecutor{Workers: 3}
	rs, err := ex.RunBatch(context.Background(), jobs, Options{Reference: "a b + c +"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Outcome]int{}
	for i, j := range jobs {
		one, _ := ex.Run(context.Background(), j.Program, j.Tests, Options{Reference: "a b + c +"})
		if one.Outcome != rs[i].Outcome || one.Passed != rs[i].Passed || one.StepsCorrect != rs[i].StepsCorrect {
			t.Fatalf("job %d %q: batch %v/%d/%d, single %v/%d/%d", i, j.Program.Source, rs[i].Outcome, rs[i].Passed, rs[i].StepsCorrect, one.Outcome, one.Passed, one.StepsCorrect)
		}
		seen[one.Outcome]++
	}
	if len(seen) < 4 {
		t.Errorf("random programs hit only %v", seen)
	}
}

// BenchmarkRPNBatch reports token-steps per second of batched evaluation (no traces):
// 4096 programs of 9 tokens x 64 input environments.
func BenchmarkRPNBatch(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 7))
	var tests []Test
	for range 64 {
		tests = append(tests, Test{Env: rpn.Env{A: r.Int64N(19) - 9, B: r.Int64N(19) - 9, C: r.Int64N(19) - 9}})
	}
	progs := []string{"a b + c *", "a b c * + 2 *", "a a * b b * + c -", "a 3 * b - c c * +"}
	var jobs []Job
	tokens := 0
	for i := range 4096 {
		src := progs[i%len(progs)] + " a + b -"
		jobs = append(jobs, Job{Program: Program{Lang: RPN, Source: src}, Tests: tests})
		tokens += len(rpn.Tokenize(src)) * len(tests)
	}
	ex := &RPNExecutor{}
	b.ResetTimer()
	for b.Loop() {
		if _, err := ex.RunBatch(context.Background(), jobs, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "token-steps/s")
}

// BenchmarkRPNTrace is the same with traces and a reference (the trace-based DPO path).
func BenchmarkRPNTrace(b *testing.B) {
	tests := []Test{{Env: rpn.Env{A: 2, B: 3, C: 4}}, {Env: rpn.Env{A: -1, B: 5, C: 0}}}
	var jobs []Job
	for range 1024 {
		jobs = append(jobs, Job{Program: Program{Lang: RPN, Source: "a b + c * a - b +"}, Tests: tests})
	}
	ex := &RPNExecutor{}
	for b.Loop() {
		if _, err := ex.RunBatch(context.Background(), jobs, Options{Trace: true, Reference: "a b + c *"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(1024*2*9)*float64(b.N)/b.Elapsed().Seconds(), "token-steps/s")
}

package rpntask

import (
	"testing"

	"github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/sandbox"
)

func TestDivergence(t *testing.T) {
	envs := []rpn.Env{{A: 2, B: 3, C: 5}, {A: -1, B: 4, C: 7}, {A: 6, B: -2, C: 1}}
	ref := "a b + c *"
	for _, tc := range []struct {
		cand string
		want int
		why  string
	}{
		{"a b - c *", 2, "a-b is never computed by the reference"},
		{"a c + b *", 2, "c alone is a reference value (pushed in another order); a+c is not"},
		{"b a + c -", 4, "b, a and b+a are all reference values (commutative reordering); (a+b)-c is not"},
		{"c b a + *", 5, "a fully reordered correct program has no divergence"},
		{"a b +", 3, "stopping at an intermediate result: the divergence is the end (EOS)"},
		{"a b + 2 *", 3, "the constant 2 is never on the reference's stack"},
	} {
		got, err := Divergence(rpn.Tokenize(tc.cand), rpn.Tokenize(ref), rpn.Ext, envs)
		if err != nil {
			t.Fatalf("%s: %v", tc.cand, err)
		}
		if got != tc.want {
			t.Errorf("Divergence(%q, %q) = %d, want %d (%s)", tc.cand, ref, got, tc.want, tc.why)
		}
	}
	// dup and swap leave old values on top: not divergences.
	got, err := Divergence(rpn.Tokenize("a dup * b swap -"), rpn.Tokenize("a a * b -"), rpn.Ext, envs)
	if err != nil || got != 5 {
		t.Errorf("swap order error: got %d, %v; want 5 (b - a·a is new)", got, err)
	}
	if _, err := Divergence(rpn.Tokenize("a 0 /"), rpn.Tokenize(ref), rpn.Ext, envs); err == nil {
		t.Errorf("a candidate that fails at run time must be an error (EGCA applies to programs that run)")
	}
}

func TestLanguageDivergenceSpan(t *testing.T) {
	envs := []rpn.Env{{A: 2, B: 3, C: 5}, {A: -1, B: 4, C: 7}}
	p := rl.Prompt{Reference: "a b + c *", Tests: []sandbox.Test{{Env: envs[0]}, {Env: envs[1]}}}
	l := Language{rpn.Ext}
	for _, tc := range []struct {
		cand       string
		start, end int
	}{
		{"a  c +  b *", 5, 6}, // token 2 ("+") after doubled spaces
		{"a b +", 5, 5},       // stopped early: the end
		{"a b - c *", 4, 5},
	} {
		s, e, ok, err := l.Divergence(p, tc.cand, sandbox.Result{}, sandbox.Result{})
		if err != nil || !ok || s != tc.start || e != tc.end {
			t.Errorf("Divergence(%q) = [%d,%d) ok %v err %v, want [%d,%d)", tc.cand, s, e, ok, err, tc.start, tc.end)
		}
	}
}

func TestNewTaskTestsAreReferenceOutputs(t *testing.T) {
	exs := []rpn.Example{{Description: "add a and b", Program: "a b +"}, {Description: "divide a by 0", Program: "a 0 /"}}
	task, err := NewTask(rpn.Ext, exs, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	if task.Len() != 1 || task.Dropped != 1 {
		t.Fatalf("%d prompts, %d dropped; want 1 and 1 (the division by zero always fails)", task.Len(), task.Dropped)
	}
	for _, test := range task.Prompts[0].Tests {
		if test.Want != test.Env.A+test.Env.B {
			t.Errorf("test %+v: want a+b", test)
		}
	}
	if _, err := NewTask(rpn.Ext, []rpn.Example{{Description: "x", Program: "a +"}}, 4, 1); err == nil {
		t.Errorf("a reference that does not compile must be an error")
	}
}

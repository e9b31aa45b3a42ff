package rpn

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestRunHandChecked(t *testing.T) {
	env := Env{A: 2, B: -3, C: 5}
	cases := []struct {
		d    Dialect
		prog string
		want int64
	}{
		{Basic, "a b + c *", (2 - 3) * 5},
		{Basic, "a b c * -", 2 - (-3 * 5)},
		{Basic, "9 a * 7 -", 18 - 7},
		{Basic, "c", 5},
		{Ext, "7 2 /", 3},
		{Ext, "a dup *", 4},
		{Ext, "a 7 swap -", 7 - 2},
		{Ext, "b 2 /", -1}, // truncation toward zero
	}
	for _, c := range cases {
		got, trace, err := Run(Tokenize(c.prog), c.d, env)
		if err != nil {
			t.Fatalf("%s: %v", c.prog, err)
		}
		if got != c.want {
			t.Errorf("%s = %d, want %d", c.prog, got, c.want)
		}
		if len(trace) != len(Tokenize(c.prog)) || trace[len(trace)-1][0] != c.want {
			t.Errorf("%s: trace %v does not end in the value", c.prog, trace)
		}
	}
	_, trace, _ := Run(Tokenize("a b + c *"), Basic, env)
	want := [][]int64{{2}, {2, -3}, {-1}, {-1, 5}, {-5}}
	for i := range want {
		if !slices.Equal(trace[i], want[i]) {
			t.Fatalf("trace[%d] = %v, want %v", i, trace[i], want[i])
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		d    Dialect
		prog string
		kind ErrorKind
		pos  int
	}{
		{Basic, "a +", Underflow, 1},
		{Basic, "a b", Leftover, -1},
		{Basic, "", Empty, -1},
		{Basic, "a x +", UnknownToken, 1},
		{Basic, "a b /", UnknownToken, 2}, // division is rpn-ext only
		{Basic, "a dup *", UnknownToken, 1},
		{Ext, "swap", Underflow, 0},
		{Ext, "a 0 /", DivisionByZero, 2},
		{Ext, "a b b - /", DivisionByZero, 4},
	}
	for _, c := range cases {
		_, _, err := Run(Tokenize(c.prog), c.d, Env{1, 2, 3})
		e := AsError(err)
		if e == nil {
			t.Fatalf("%q: want %v, got %v", c.prog, c.kind, err)
		}
		if e.Kind != c.kind || e.Pos != c.pos {
			t.Errorf("%q: got %v at %d, want %v at %d", c.prog, e.Kind, e.Pos, c.kind, c.pos)
		}
		if e.IsRuntime() != (c.kind == DivisionByZero) {
			t.Errorf("%q: IsRuntime = %v", c.prog, e.IsRuntime())
		}
		if !strings.Contains(e.Error(), c.kind.String()) {
			t.Errorf("%q: message %q does not name the error", c.prog, e.Error())
		}
	}
}

func TestEquivalentHandChecked(t *testing.T) {
	cases := []struct {
		p, q string
		eq   bool
	}{
		{"a b +", "b a +", true},
		{"a b + c *", "c a b + *", true},
		{"a b + c *", "a c * b c * +", true}, // distributivity
		{"a b -", "b a -", false},
		{"a a +", "2 a *", true},
		{"a 0 *", "0", true},
		{"a b * c *", "c b a * *", true},
		{"a 1 +", "a 2 +", false},
	}
	for _, c := range cases {
		eq, exact, err := Equivalent(Tokenize(c.p), Tokenize(c.q), Basic)
		if err != nil || !exact || eq != c.eq {
			t.Errorf("Equivalent(%q, %q) = %v exact %v err %v, want %v", c.p, c.q, eq, exact, err, c.eq)
		}
	}
	if _, _, err := Equivalent(Tokenize("a +"), Tokenize("a"), Basic); err == nil {
		t.Error("a malformed program must report its error")
	}
	eq, exact, err := Equivalent(Tokenize("a 2 /"), Tokenize("a 2 /"), Ext)
	if !eq || exact || err != nil {
		t.Errorf("division: eq %v exact %v err %v; want true, inexact", eq, exact, err)
	}
}

// randomProgram builds a well-formed program of n leaves in dialect d.
func randomProgram(rng *rand.Rand, d Dialect, n int) []string {
	leaves := []string{"a", "b", "c", "0", "1", "2", "3", "7", "9"}
	ops := []string{"+", "-", "*"}
	if d == Ext {
		ops = append(ops, "/")
	}
	var prog []string
	depth := 0
	for placed := 0; placed < n || depth > 1; {
		if placed < n && (depth < 2 || rng.IntN(2) == 0) {
			prog = append(prog, leaves[rng.IntN(len(leaves))])
			placed++
			depth++
			if d == Ext && rng.IntN(6) == 0 {
				prog = append(prog, "dup")
				depth++
				placed++
			}
		} else {
			if d == Ext && rng.IntN(5) == 0 {
				prog = append(prog, "swap")
			}
			prog = append(prog, ops[rng.IntN(len(ops))])
			depth--
		}
	}
	return prog
}

// TestPropertyPolynomialMatchesInterpreter: on random programs, the canonical polynomial
// evaluates to the interpreter's value, the postfix of the parse tree runs to the same value,
// and reordering the operands of + and * never changes the canonical form.
func TestPropertyPolynomialMatchesInterpreter(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		prog := randomProgram(rng, Basic, 1+rng.IntN(6))
		e, err := Parse(prog, Basic)
		if err != nil {
			t.Fatalf("program %d %v: %v", i, prog, err)
		}
		poly, err := e.Polynomial()
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			env := Env{rng.Int64N(11) - 5, rng.Int64N(11) - 5, rng.Int64N(11) - 5}
			want, err := Eval(prog, Basic, env)
			if err != nil {
				t.Fatal(err)
			}
			if got := evalPoly(poly, env); got != want {
				t.Fatalf("%v on %+v: polynomial %s gives %d, interpreter %d", prog, env, poly, got, want)
			}
			if got, _ := Eval(e.Postfix(), Basic, env); got != want {
				t.Fatalf("%v: postfix %v gives %d, want %d", prog, e.Postfix(), got, want)
			}
		}
		swapped := commute(e, rng).Postfix()
		if eq, _, err := Equivalent(prog, swapped, Basic); !eq || err != nil {
			t.Fatalf("%v and its commuted form %v must be equivalent (err %v)", prog, swapped, err)
		}
	}
}

func TestPropertyExtTraceAndErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		prog := randomProgram(rng, Ext, 1+rng.IntN(6))
		env := Env{rng.Int64N(5) - 2, rng.Int64N(5) - 2, rng.Int64N(5) - 2}
		v, trace, err := Run(prog, Ext, env)
		v2, err2 := Eval(prog, Ext, env)
		if (err == nil) != (err2 == nil) || v != v2 {
			t.Fatalf("%v: Run (%d, %v) and Eval (%d, %v) disagree", prog, v, err, v2, err2)
		}
		if err != nil {
			if e := AsError(err); e == nil || !e.IsRuntime() || len(trace) != e.Pos {
				t.Fatalf("%v: a generated program may only fail at run time, got %v with %d trace rows", prog, err, len(trace))
			}
		}
	}
}

func commute(e *Expr, rng *rand.Rand) *Expr {
	if e.IsLeaf() {
		return e
	}
	l, r := commute(e.Left, rng), commute(e.Right, rng)
	if (e.Op == "+" || e.Op == "*") && rng.IntN(2) == 0 {
		l, r = r, l
	}
	return &Expr{Op: e.Op, Left: l, Right: r}
}

func evalPoly(p Poly, env Env) int64 {
	var s int64
	for m, k := range p {
		term := k
		for v, x := range []int64{env.A, env.B, env.C} {
			for range m[v] {
				term *= x
			}
		}
		s += term
	}
	return s
}

package codematch

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// score is one expected ASTMatch and DFGMatch of a candidate against a reference.
type score struct {
	name            string
	cand, ref       string
	lang            Language
	wantAST, wantDF float64
}

func checkScores(t *testing.T, tests []score) {
	t.Helper()
	for _, tc := range tests {
		ast, err := ASTMatch(tc.cand, tc.ref, tc.lang)
		if err != nil || math.Abs(ast-tc.wantAST) > 1e-12 {
			t.Errorf("%s: ASTMatch = %v, %v; want %v", tc.name, ast, err, tc.wantAST)
		}
		dfg, err := DFGMatch(tc.cand, tc.ref, tc.lang)
		if err != nil || math.Abs(dfg-tc.wantDF) > 1e-12 {
			t.Errorf("%s: DFGMatch = %v, %v; want %v", tc.name, dfg, err, tc.wantDF)
		}
	}
}

const (
	pyRef = "def f(a, b):\n    c = a + b\n    return c * 2\n"
	goRef = "func f(a, b int) int {\n\tc := a + b\n\treturn c * 2\n}\n"
)

// Python reference pyRef has 9 subtrees (every node with children, names dropped):
//
//	module, function_definition, parameters, block, expression_statement, assignment,
//	(binary_operator (identifier) "+" (identifier)), return_statement,
//	(binary_operator (identifier) "*" (integer))
//
// and 6 data-flow edges (a=var_0, b=var_1, c=var_2 by first occurrence):
//
//	a comesFrom a, b comesFrom b           (reads in a + b of the parameters)
//	a computedFrom -> c, b computedFrom -> c
//	c comesFrom c, c computedFrom -> return
func TestPython(t *testing.T) {
	checkScores(t, []score{
		{"identical", pyRef, pyRef, Python, 1, 1},
		// a - b: the subtrees containing the operator differ (binary_operator, assignment,
		// expression_statement, block, function_definition, module); parameters, return_statement
		// and c * 2 match: 3/9. The data flow is the same: 6/6.
		{"minus", "def f(a, b):\n    c = a - b\n    return c * 2\n", pyRef, Python, 3.0 / 9, 1},
		// Consistent renaming changes nothing: names are dropped from subtrees and normalised in
		// edges.
		{"renamed", "def g(x, y):\n    z = x + y\n    return z * 2\n", pyRef, Python, 1, 1},
		// c = a + a; return c + b. Subtrees: parameters, "id + id" (twice in the candidate),
		// assignment and expression_statement match; the * subtrees and everything above the
		// return differ: 4/9. Edges: a comesFrom a (x2), a -> c (x2), c comesFrom c,
		// b comesFrom b, c -> return, b -> return; of the reference's six only b -> c is
		// missing: 5/6.
		{"rewired", "def f(a, b):\n    c = a + a\n    return c + b\n", pyRef, Python, 4.0 / 9, 5.0 / 6},
		// x = 1: subtrees assignment, expression_statement, module, none in pyRef; no edges.
		{"nothing shared", "x = 1\n", pyRef, Python, 0, 0},
		// tree-sitter recovers from the dangling +, but an ERROR node means no parse.
		{"malformed", "def f(a, b):\n    c = a + b +\n    return c * 2\n", pyRef, Python, 0, 0},
		// A reference without edges scores 0 on eq. (4.9) for every candidate, itself included.
		{"no reference edges", "def f():\n    return 1\n", "def f():\n    return 1\n", Python, 1, 0},
	})
}

// Go reference goRef has 12 subtrees: source_file, function_declaration, parameter_list,
// parameter_declaration, block, short_var_declaration, (expression_list (identifier)),
// (expression_list (binary_expression ... "+" ...)), the + binary_expression, return_statement,
// (expression_list (binary_expression ... "*" ...)) and the * binary_expression; its edges are
// pyRef's six.
func TestGo(t *testing.T) {
	checkScores(t, []score{
		{"identical", goRef, goRef, Go, 1, 1},
		// c := a - b: the + binary_expression, its expression_list, short_var_declaration,
		// block, function_declaration and source_file differ: 6/12 match.
		{"minus", "func f(a, b int) int {\n\tc := a - b\n\treturn c * 2\n}\n", goRef, Go, 6.0 / 12, 1},
		// Formatting and comments do not count: ";" vs newline, a comment.
		{"reformatted", "func f(a, b int) int { c := a + b; return c * 2 } // sum\n", goRef, Go, 1, 1},
		// c := a; c += b is the same data flow but for the augmented c -> c and the extra read
		// of c: edges a comesFrom a, a -> c, c comesFrom c, c -> c, b comesFrom b, b -> c,
		// c comesFrom c, c -> return. Matches: a comesFrom a, b comesFrom b, a -> c, b -> c,
		// c comesFrom c, c -> return: 6/6. Subtrees: parameter_declaration, parameter_list,
		// (expression_list (identifier)) (the candidate has it 3 times, goRef once) and the
		// three * subtrees (binary_expression, its expression_list, return_statement): 6/12.
		{"augmented", "func f(a, b int) int {\n\tc := a\n\tc += b\n\treturn c * 2\n}\n", goRef, Go, 6.0 / 12, 1},
		{"nothing shared", "package p\n", goRef, Go, 0, 0},
		{"malformed", "func f(a, b int) int {\n\tc := a +\n", goRef, Go, 0, 0},
	})
}

func TestRPN(t *testing.T) {
	const ref = "a b + c *" // subtrees (+ a b), (* (+ a b) c); edges a->t0 b->t0 t0->t1 c->t1
	checkScores(t, []score{
		{"identical", ref, ref, RPN, 1, 1},
		{"commuted +", "b a + c *", ref, RPN, 1, 1},
		{"commuted *", "c a b + *", ref, RPN, 1, 1},
		// (- a b) and (* (- a b) c) match nothing: 0/2; the edges are the same: 4/4.
		{"minus", "a b - c *", ref, RPN, 0, 1},
		// (+ a b) matches, (- (+ a b) c) does not: 1/2; edges a->t0 b->t0 t0->t1 c->t1: 4/4.
		{"last op", "a b + c -", ref, RPN, 1.0 / 2, 1},
		// (+ a c), (* (+ a c) b): 0/2; edges a->t0 c->t0 t0->t1 b->t1 share a->t0, t0->t1: 2/4.
		{"swapped inputs", "a c + b *", ref, RPN, 0, 2.0 / 4},
		// Every other input: nothing shared.
		{"nothing shared", "3 4 -", ref, RPN, 0, 0},
		{"malformed", "a b + *", ref, RPN, 0, 0},
		{"ext token in basic", "a b / c *", ref, RPN, 0, 0},
		// dup shares a value: "a b + dup *" has (+ a b) once and edges a->t0 b->t0 t0->t1 (x2);
		// the reference "a b + a b + *" has (+ a b) twice, (* ...) once: 2/3; edges
		// a->t0 b->t0 a->t1 b->t1 t0->t2 t1->t2, of which a->t0 and b->t0 match: 2/6.
		{"dup", "a b + dup *", "a b + a b + *", RPNExt, 2.0 / 3, 2.0 / 6},
		{"swap", "b a swap - c *", "a b - c *", RPNExt, 1, 1},
		// A single leaf: one subtree (the root), no edges.
		{"leaf", "a", "a", RPN, 1, 0},
	})
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		lang Language
	}{
		{"a b", RPN}, {"a dup +", RPN}, {"def f(:\n", Python}, {"func f( {\n", Go}, {"a", "cobol"},
	} {
		if _, err := ASTMatch(tc.ref, tc.ref, tc.lang); err == nil {
			t.Errorf("ASTMatch with reference %q (%s): no error", tc.ref, tc.lang)
		}
		if _, err := DFGMatch("a", tc.ref, tc.lang); err == nil {
			t.Errorf("DFGMatch with reference %q (%s): no error", tc.ref, tc.lang)
		}
	}
	if _, err := Subtrees("x = (", Python); !errors.Is(err, ErrSyntax) {
		t.Errorf("Subtrees of malformed Python: %v, want ErrSyntax", err)
	}
	if _, err := DataFlow("a +", RPN); !errors.Is(err, ErrSyntax) {
		t.Errorf("DataFlow of malformed RPN: %v, want ErrSyntax", err)
	}
}

func TestParseLanguage(t *testing.T) {
	for task, want := range map[string]Language{
		"rpn": RPN, "rpn-ext": RPNExt, "python": Python, "humaneval": Python, "MBPP": Python,
		"apps": Python, "go": Go,
	} {
		if got, err := ParseLanguage(task); got != want || err != nil {
			t.Errorf("ParseLanguage(%q) = %q, %v; want %q", task, got, err, want)
		}
	}
	if _, err := ParseLanguage("cobol"); err == nil {
		t.Error("ParseLanguage(cobol): no error")
	}
}

func TestOverlap(t *testing.T) {
	// x matches twice (the candidate has two), the third x and z do not: 2/4.
	if got := Overlap([]string{"x", "y", "x"}, []string{"x", "x", "x", "z"}); got != 0.5 {
		t.Errorf("Overlap = %v, want 0.5", got)
	}
	if got := Overlap([]string{"x"}, nil); got != 0 {
		t.Errorf("Overlap with empty reference = %v, want 0", got)
	}
}

func TestPythonDataFlow(t *testing.T) {
	// Tuple assignment pairs element-wise, x[i] = v writes x and reads i, comprehension targets
	// are defined before the body reads them, keyword names and attributes are not variables.
	src := "def f(xs):\n    p, q = xs, 1\n    ys = [y for y in xs]\n    ys[p] = q.real\n    print(p, sep=q)\n"
	// xs=var_0 p=var_1 q=var_2 ys=var_3 y=var_4 (print is never defined: no edge, no name).
	want := []string{
		"var_0 -comesFrom-> var_0", "var_0 -computedFrom-> var_1", // p, q = xs, 1
		"var_0 -comesFrom-> var_0", "var_0 -computedFrom-> var_4", "var_4 -comesFrom-> var_4", // [y for y in xs]
		"var_4 -computedFrom-> var_3", "var_4 -computedFrom-> var_3", "var_0 -computedFrom-> var_3", // ys = ...
		"var_2 -comesFrom-> var_2", "var_1 -comesFrom-> var_1", "var_2 -computedFrom-> var_3", // ys[p] = q.real
		"var_1 -comesFrom-> var_1", "var_2 -comesFrom-> var_2", // print(p, sep=q)
	}
	checkEdges(t, src, Python, want)
}

func TestGoDataFlow(t *testing.T) {
	src := "func f(xs []int) (n int) {\n\tfor i, x := range xs {\n\t\tn += x\n\t\ti++\n\t}\n\treturn\n}\n"
	// xs=var_0 n=var_1 i=var_2 x=var_3; the named result n is a definition.
	want := []string{
		"var_0 -comesFrom-> var_0", "var_0 -computedFrom-> var_2", "var_0 -computedFrom-> var_3", // range
		"var_3 -comesFrom-> var_3", "var_1 -comesFrom-> var_1", "var_1 -computedFrom-> var_1", "var_3 -computedFrom-> var_1", // n += x
		"var_2 -comesFrom-> var_2", "var_2 -computedFrom-> var_2", // i++
	}
	checkEdges(t, src, Go, want)
}

// checkEdges compares DataFlow(src, lang), in order, with want.
func checkEdges(t *testing.T, src string, lang Language, want []string) {
	t.Helper()
	es, err := DataFlow(src, lang)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(es))
	for i, e := range es {
		got[i] = e.String()
	}
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("DataFlow(%s) =\n%s\nwant\n%s", lang, g, w)
	}
}

func TestDupChain(t *testing.T) {
	// 40 dup-* pairs double the expression 40 times; long S-expressions become digests.
	p := "a" + strings.Repeat(" dup *", 40)
	st, err := Subtrees(p, RPNExt)
	if err != nil || len(st) != 40 {
		t.Fatalf("Subtrees: %d subtrees, %v; want 40", len(st), err)
	}
	for _, s := range st {
		if len(s) > maxSexp {
			t.Fatalf("subtree of %d bytes", len(s))
		}
	}
	if got, err := ASTMatch(p, p, RPNExt); got != 1 || err != nil {
		t.Errorf("ASTMatch(p, p) = %v, %v", got, err)
	}
	if got, err := ASTMatch(p+" a +", p, RPNExt); got != 1 || err != nil {
		t.Errorf("ASTMatch(p a +, p) = %v, %v", got, err)
	}
}

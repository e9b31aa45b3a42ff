package codematch

import (
	"crypto/sha256"
	"fmt"
	"strconv"

	"github.com/execfeed/execfeed/lib/rpn"
)

// parseRPN builds the expression tree of an RPN program; a malformed program wraps ErrSyntax.
func parseRPN(src string, lang Language) (*rpn.Expr, error) {
	d := rpn.Basic
	if lang == RPNExt {
		d = rpn.Ext
	}
	e, err := rpn.Parse(rpn.Tokenize(src), d)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrSyntax, lang, err)
	}
	return e, nil
}

// commutative reports whether an operator's operands may be reordered: + and *.
func commutative(op string) bool { return op == "+" || op == "*" }

// maxSexp bounds an S-expression's length: a longer one is replaced by a digest of itself, so
// that a chain of "dup"s, which doubles the expression at each step, cannot blow up memory.
const maxSexp = 256

// rpnTree holds the canonical S-expression of every node of an expression DAG.
type rpnTree map[*rpn.Expr]string

// canonical renders an expression as an S-expression, "(op left right)" with leaves as their
// token, e.g. "(* (+ a b) c)". The operands of + and * are put in sorted order, so that
// "a b +" and "b a +" render alike; - and / keep their order. Associativity is not normalised:
// "(+ (+ a b) c)" and "(+ a (+ b c))" differ. Renderings longer than maxSexp are replaced by
// "#" and a SHA-256 digest of the rendering.
func (t rpnTree) canonical(e *rpn.Expr) string {
	if e.IsLeaf() {
		return e.Leaf
	}
	if s, ok := t[e]; ok {
		return s
	}
	x, y := t.operands(e)
	s := "(" + e.Op + " " + t.canonical(x) + " " + t.canonical(y) + ")"
	if len(s) > maxSexp {
		s = fmt.Sprintf("#%x", sha256.Sum256([]byte(s)))
	}
	t[e] = s
	return s
}

// operands returns e's operands in canonical order (see canonical).
func (t rpnTree) operands(e *rpn.Expr) (x, y *rpn.Expr) {
	x, y = e.Left, e.Right
	if commutative(e.Op) && t.canonical(y) < t.canonical(x) {
		x, y = y, x
	}
	return x, y
}

// postorder calls f on every operator node of the DAG once, operands first, in canonical
// operand order.
func (t rpnTree) postorder(root *rpn.Expr, f func(e, x, y *rpn.Expr)) {
	seen := map[*rpn.Expr]bool{}
	var walk func(e *rpn.Expr)
	walk = func(e *rpn.Expr) {
		if e.IsLeaf() || seen[e] {
			return
		}
		seen[e] = true
		x, y := t.operands(e)
		walk(x)
		walk(y)
		f(e, x, y)
	}
	walk(root)
}

// rpnSubtrees is Subtrees for RPN: one subtree per operator token of the program, the
// canonical S-expression (see canonical) of the value it computes, plus the root when the whole
// program is a single leaf. As in CodeBLEU, leaves are not subtrees of their own but appear
// inside their parents' S-expressions. Unlike CodeBLEU, which keeps node types and drops
// identifier names, a leaf is written as its token: in RPN the token is the node type (the
// variables a, b, c are fixed inputs and each constant is its own terminal), so (+ a 1) and
// (+ b 2) are different subtrees. "dup" shares a value without a new operator token, so
// "a b + dup *" has the subtrees (+ a b) and (* (+ a b) (+ a b)), while "a b + a b + *" has
// (+ a b) twice; "swap" only reorders operands, so "a b swap -" is (- b a).
func rpnSubtrees(root *rpn.Expr) []string {
	if root.IsLeaf() {
		return []string{root.Leaf}
	}
	t := rpnTree{}
	var out []string
	t.postorder(root, func(e, _, _ *rpn.Expr) { out = append(out, t.canonical(e)) })
	return out
}

// rpnDataFlow is DataFlow for RPN, the stack program read as straight-line code in which every
// operator token assigns a fresh temporary: "a b + c *" is t0 = a + b; t1 = t0 * c. Each
// operator adds one edge operand -> result per operand, relation ComputedFrom: a -> t0, b -> t0,
// t0 -> t1, c -> t1. Inputs and constants are named by their token (they are fixed, so they
// are not renamed as CodeBLEU renames variables), temporaries t0, t1, ... in the order the
// canonical expression (see canonical) computes them, so reordering the operands of + and *
// changes nothing. As in CodeBLEU the operator itself is not part of the data flow: "a b - c *"
// has the same edges as "a b + c *" (eq. 4.8 sees that difference). A value shared with "dup"
// is one temporary: "a b + dup *" has the edges a -> t0, b -> t0 and t0 -> t1 twice. A program
// that is a single leaf has no edges.
func rpnDataFlow(root *rpn.Expr) []Edge {
	t := rpnTree{}
	names := map[*rpn.Expr]string{}
	name := func(e *rpn.Expr) string {
		if e.IsLeaf() {
			return e.Leaf
		}
		return names[e]
	}
	var out []Edge
	t.postorder(root, func(e, x, y *rpn.Expr) {
		n := "t" + strconv.Itoa(len(names))
		names[e] = n
		out = append(out, Edge{From: name(x), To: n, Rel: ComputedFrom}, Edge{From: name(y), To: n, Rel: ComputedFrom})
	})
	return out
}

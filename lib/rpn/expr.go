package rpn

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
)

// Expr is a node of a program's expression tree: a leaf (variable or constant) or a binary
// operation. "dup" makes two parents share one subtree; "swap" only reorders operands.
type Expr struct {
	Op          string // "+", "-", "*", "/", or "" for a leaf
	Leaf        string // "a", "b", "c" or a digit, when Op == ""
	Left, Right *Expr
	Pos         int // index of the token that produced this node
}

// IsLeaf reports whether e is a variable or a constant.
func (e *Expr) IsLeaf() bool { return e.Op == "" }

// String renders the expression in fully parenthesised infix form, e.g. "((a + b) * c)".
func (e *Expr) String() string {
	if e.IsLeaf() {
		return e.Leaf
	}
	return "(" + e.Left.String() + " " + e.Op + " " + e.Right.String() + ")"
}

// Postfix renders the expression back into RPN tokens (without dup/swap).
func (e *Expr) Postfix() []string {
	if e.IsLeaf() {
		return []string{e.Leaf}
	}
	return append(append(e.Left.Postfix(), e.Right.Postfix()...), e.Op)
}

// Parse builds the expression tree of a well-formed program, or returns its compile *Error.
func Parse(tokens []string, d Dialect) (*Expr, error) {
	if err := Check(tokens, d); err != nil {
		return nil, err
	}
	var stack []*Expr
	for i, t := range tokens {
		n := len(stack)
		switch t {
		case "+", "-", "*", "/":
			stack = append(stack[:n-2], &Expr{Op: t, Left: stack[n-2], Right: stack[n-1], Pos: i})
		case "dup":
			stack = append(stack, stack[n-1])
		case "swap":
			stack[n-2], stack[n-1] = stack[n-1], stack[n-2]
		default:
			stack = append(stack, &Expr{Leaf: t, Pos: i})
		}
	}
	return stack[0], nil
}

// HasDivision reports whether the expression uses "/".
func (e *Expr) HasDivision() bool {
	if e.IsLeaf() {
		return false
	}
	return e.Op == "/" || e.Left.HasDivision() || e.Right.HasDivision()
}

// Monomial is a product a^A b^B c^C, written as its three exponents.
type Monomial [3]int

// Poly is a polynomial in a, b, c with integer coefficients; zero coefficients are never stored,
// so two polynomials are equal exactly when their maps are equal.
type Poly map[Monomial]int64

// Polynomial returns the canonical polynomial of a division-free expression.
func (e *Expr) Polynomial() (Poly, error) {
	if e.IsLeaf() {
		switch e.Leaf {
		case "a":
			return Poly{{1, 0, 0}: 1}, nil
		case "b":
			return Poly{{0, 1, 0}: 1}, nil
		case "c":
			return Poly{{0, 0, 1}: 1}, nil
		}
		if k := int64(e.Leaf[0] - '0'); k != 0 {
			return Poly{{}: k}, nil
		}
		return Poly{}, nil
	}
	l, err := e.Left.Polynomial()
	if err != nil {
		return nil, err
	}
	r, err := e.Right.Polynomial()
	if err != nil {
		return nil, err
	}
	out := Poly{}
	add := func(m Monomial, k int64) {
		if out[m] += k; out[m] == 0 {
			delete(out, m)
		}
	}
	switch e.Op {
	case "+", "-":
		sign := int64(1)
		if e.Op == "-" {
			sign = -1
		}
		for m, k := range l {
			add(m, k)
		}
		for m, k := range r {
			add(m, sign*k)
		}
	case "*":
		for ml, kl := range l {
			for mr, kr := range r {
				add(Monomial{ml[0] + mr[0], ml[1] + mr[1], ml[2] + mr[2]}, kl*kr)
			}
		}
	default:
		return nil, fmt.Errorf("rpn: %q has no polynomial form", e.Op)
	}
	return out, nil
}

// Equal reports whether two polynomials are identical.
func (p Poly) Equal(q Poly) bool { return maps.Equal(p, q) }

// String renders the polynomial with monomials in a fixed order, e.g. "a*b + 3*c - 2".
func (p Poly) String() string {
	if len(p) == 0 {
		return "0"
	}
	ms := slices.Collect(maps.Keys(p))
	slices.SortFunc(ms, func(x, y Monomial) int {
		dx, dy := x[0]+x[1]+x[2], y[0]+y[1]+y[2]
		if dx != dy {
			return dy - dx
		}
		for i := range 3 {
			if x[i] != y[i] {
				return y[i] - x[i]
			}
		}
		return 0
	})
	var sb strings.Builder
	for i, m := range ms {
		k := p[m]
		switch {
		case i > 0 && k < 0:
			sb.WriteString(" - ")
			k = -k
		case i > 0:
			sb.WriteString(" + ")
		}
		var factors []string
		for v, e := range m {
			for range e {
				factors = append(factors, string(rune('a'+v)))
			}
		}
		if k != 1 || len(factors) == 0 {
			factors = append([]string{fmt.Sprint(k)}, factors...)
		}
		sb.WriteString(strings.Join(factors, "*"))
	}
	return sb.String()
}

// EquivalenceTrials is how many random inputs Equivalent tries for programs with division,
// where no exact canonical form exists.
const EquivalenceTrials = 64

// Equivalent reports whether two programs compute the same function of a, b, c. For
// division-free programs the answer is exact (canonical polynomial form) and exact is true.
// With division it compares the programs on EquivalenceTrials deterministic random inputs
// (including identical runtime errors) and exact is false. A malformed program is equivalent
// to nothing; its compile error is returned.
func Equivalent(p, q []string, d Dialect) (equivalent, exact bool, err error) {
	ep, err := Parse(p, d)
	if err != nil {
		return false, true, err
	}
	eq, err := Parse(q, d)
	if err != nil {
		return false, true, err
	}
	if !ep.HasDivision() && !eq.HasDivision() {
		pp, _ := ep.Polynomial()
		pq, _ := eq.Polynomial()
		return pp.Equal(pq), true, nil
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range EquivalenceTrials {
		env := Env{rng.Int64N(21) - 10, rng.Int64N(21) - 10, rng.Int64N(21) - 10}
		vp, errp := Eval(p, d, env)
		vq, errq := Eval(q, d, env)
		if (errp == nil) != (errq == nil) || vp != vq {
			return false, false, nil
		}
	}
	return true, false, nil
}

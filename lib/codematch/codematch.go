// Package codematch computes seed 004's structure rewards: the syntactic matching score R_ast
// of eq. (4.8) and the semantic (data-flow) matching score R_dfg of eq. (4.9), for the RPN
// dialects (through lib/rpn) and for Python and Go (through tree-sitter).
//
// Both scores follow CodeBLEU's syntax match and dataflow match, the way CodeRL computes them:
// extract a multiset of items from the reference and from the candidate, and return the fraction
// of the reference's items that the candidate also has,
//
//	R(ŷ, y) = Count(I(ŷ) ∩ I(y)) / Count(I(y))
//
// where ∩ is multiset intersection (an item occurring k times in the reference matches at most k
// occurrences in the candidate; see Overlap). For R_ast the items are the subtrees of Subtrees,
// for R_dfg the edges of DataFlow; each documents its exact rule.
//
// Edge cases, the same in every language:
//   - a candidate that does not parse scores 0 (a tree-sitter tree with an ERROR or MISSING
//     node counts as not parsing: tree-sitter recovers from errors, but a recovered tree is a
//     guess, and lib/rpn rejects malformed programs outright, so every language agrees);
//   - a reference that does not parse, or an unknown language, is an error;
//   - a reference with no items scores 0 for every candidate. Only R_dfg can meet this (a
//     program without data flow, e.g. "return 1" or the RPN program "a"); CodeBLEU also gives 0.
//     The value is the same for every candidate of that reference, so it cannot favour one
//     candidate over another; "1 if the candidate has no edges either" would instead pay the
//     full reward to empty or degenerate candidates.
package codematch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/execfeed/execfeed/lib/rpn"
)

// Language selects the parser and the extraction rules.
type Language string

// The languages codematch understands.
const (
	RPN    Language = "rpn"     // seed 000's RPN, lib/rpn's Basic dialect
	RPNExt Language = "rpn-ext" // RPN with "/", "dup" and "swap", lib/rpn's Ext dialect
	Python Language = "python"  // Python 3, tree-sitter-python
	Go     Language = "go"      // Go, tree-sitter-go
)

// ParseLanguage maps a task name to its language: "rpn" and "rpn-ext" to themselves; "python",
// "humaneval", "mbpp" and "apps" to Python; "go" to Go. Case is ignored.
func ParseLanguage(task string) (Language, error) {
	switch strings.ToLower(task) {
	case "rpn":
		return RPN, nil
	case "rpn-ext":
		return RPNExt, nil
	case "python", "humaneval", "mbpp", "apps":
		return Python, nil
	case "go":
		return Go, nil
	}
	return "", fmt.Errorf("codematch: no language for task %q (want rpn, rpn-ext, python, humaneval, mbpp, apps or go)", task)
}

// ErrSyntax marks a source text that does not parse; Subtrees and DataFlow wrap it.
var ErrSyntax = errors.New("codematch: source does not parse")

// Edge is one data-flow edge: the value of To is derived from the value of From.
type Edge struct {
	From, To string
	Rel      Relation
}

// String renders the edge as "From -Rel-> To", e.g. "var_0 -computedFrom-> var_2".
func (e Edge) String() string { return e.From + " -" + string(e.Rel) + "-> " + e.To }

// Relation is the kind of a data-flow edge, named as in CodeBLEU.
type Relation string

// The relations of DataFlow's edges.
const (
	// ComputedFrom: To is assigned (or returned) a value computed from From.
	ComputedFrom Relation = "computedFrom"
	// ComesFrom: a read of a variable, whose value comes from an earlier definition of it.
	ComesFrom Relation = "comesFrom"
)

// Subtrees returns the multiset of AST subtrees of eq. (4.8), one S-expression per subtree, in
// no particular order:
//   - Python, Go (CodeBLEU's syntax match): the root and every tree-sitter node with children,
//     written with node types only (identifier names and literal values dropped) but with the
//     anonymous tokens (operators, keywords) kept, comments and statement terminators left out,
//     e.g. (binary_operator (identifier) "+" (identifier));
//   - RPN: one per operator token, the expression of the value it computes, leaves written as
//     their tokens and the operands of + and * sorted, e.g. (* (+ a b) c); a program that is a
//     single leaf has that leaf as its one subtree.
//
// A source that does not parse returns an error wrapping ErrSyntax.
func Subtrees(src string, lang Language) ([]string, error) {
	return items(src, lang, rpnSubtrees, tsSubtrees)
}

// DataFlow returns the multiset of data-flow edges of eq. (4.9):
//   - Python, Go (a simplified CodeBLEU dataflow): variables are identifiers; a read of a
//     defined variable adds v -comesFrom-> v; an assignment (=, :=, var, x += v, x++, for-loop
//     targets, parameter defaults) adds s -computedFrom-> t from every variable s of the value to
//     every variable t written (and t -> t when augmented); return adds s -computedFrom-> return.
//     Names are then renamed var_0, var_1, ... in the order of their first occurrence;
//   - RPN: every operator token computes a temporary t_k = x op y, adding x -> t_k and y -> t_k;
//     inputs and constants keep their tokens as names.
//
// A source that does not parse returns an error wrapping ErrSyntax.
func DataFlow(src string, lang Language) ([]Edge, error) {
	return items(src, lang, rpnDataFlow, tsDataFlow)
}

// items extracts the items of src with the RPN or the tree-sitter extractor.
func items[T any](src string, lang Language, fromRPN func(*rpn.Expr) []T, fromTS func(string, Language) ([]T, error)) ([]T, error) {
	switch lang {
	case RPN, RPNExt:
		e, err := parseRPN(src, lang)
		if err != nil {
			return nil, err
		}
		return fromRPN(e), nil
	case Python, Go:
		return fromTS(src, lang)
	}
	return nil, fmt.Errorf("codematch: unknown language %q (want rpn, rpn-ext, python or go)", lang)
}

// ASTMatch is R_ast(ŷ, y) of eq. (4.8): the fraction of the reference's subtrees (Subtrees)
// that the candidate also has, counted as multisets (Overlap). A candidate that does not parse
// scores 0; a reference that does not parse, or an unknown language, is an error.
func ASTMatch(candidate, reference string, lang Language) (float64, error) {
	return match(candidate, reference, lang, Subtrees)
}

// DFGMatch is R_dfg(ŷ, y) of eq. (4.9): the fraction of the reference's data-flow edges
// (DataFlow) that the candidate also has, counted as multisets (Overlap). A candidate that does
// not parse scores 0, and so does every candidate of a reference without edges; a reference that
// does not parse, or an unknown language, is an error.
func DFGMatch(candidate, reference string, lang Language) (float64, error) {
	return match(candidate, reference, lang, DataFlow)
}

// Overlap returns Count(candidate ∩ reference) / Count(reference) for multisets: each reference
// item matches at most one candidate item equal to it, so an item the reference has k times
// counts at most k times. It is 0 when the reference is empty.
func Overlap[T comparable](candidate, reference []T) float64 {
	if len(reference) == 0 {
		return 0
	}
	left := make(map[T]int, len(candidate))
	for _, c := range candidate {
		left[c]++
	}
	matched := 0
	for _, r := range reference {
		if left[r] > 0 {
			left[r]--
			matched++
		}
	}
	return float64(matched) / float64(len(reference))
}

// match extracts the items of both programs and returns their Overlap.
func match[T comparable](candidate, reference string, lang Language, extract func(string, Language) ([]T, error)) (float64, error) {
	ref, err := extract(reference, lang)
	if err != nil {
		return 0, fmt.Errorf("codematch: reference: %w", err)
	}
	cand, err := extract(candidate, lang)
	if errors.Is(err, ErrSyntax) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("codematch: candidate: %w", err)
	}
	return Overlap(cand, ref), nil
}

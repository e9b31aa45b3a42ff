package reward

import "github.com/execfeed/execfeed/lib/codematch"

// AST is seed 004's syntactic matching score R_ast, eq. (4.8): the fraction of the reference's
// AST subtrees that the candidate also has,
//
//	R_ast(ŷ, y) = Count(AST_ŷ ∩ AST_y) / Count(AST_y)
//
// comparing s.Program with s.Reference in the language of s.Task (codematch.ParseLanguage); see
// codematch.ASTMatch for the exact rule. It lies in [0, 1]. A candidate that does not parse
// scores 0; so does a sample whose reference does not parse or whose task has no language, since
// a Func cannot return an error.
func AST(s Sample) float64 { return structure(s, codematch.ASTMatch) }

// DFG is seed 004's semantic matching score R_dfg, eq. (4.9): the fraction of the reference's
// data-flow edges that the candidate's data-flow graph also has,
//
//	R_dfg(ŷ, y) = Count(G(ŷ) ∩ G(y)) / Count(G(y))
//
// comparing s.Program with s.Reference in the language of s.Task; see codematch.DFGMatch for the
// exact rule. It lies in [0, 1]. A candidate that does not parse, and every candidate of a
// reference without data flow, scores 0; so does a sample whose reference does not parse or
// whose task has no language, since a Func cannot return an error.
func DFG(s Sample) float64 { return structure(s, codematch.DFGMatch) }

// structure applies a codematch score to a sample, 0 on any error.
func structure(s Sample, score func(candidate, reference string, lang codematch.Language) (float64, error)) float64 {
	lang, err := codematch.ParseLanguage(s.Task)
	if err != nil {
		return 0
	}
	r, err := score(s.Program, s.Reference, lang)
	if err != nil {
		return 0
	}
	return r
}

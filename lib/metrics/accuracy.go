// Package metrics scores generated programs against references: exact match (seed 000's "test
// acc") and functional accuracy (the program computes the same function as the reference).
package metrics

import (
	"fmt"
	"slices"

	"github.com/execfeed/execfeed/lib/rpn"
)

// Accuracy summarises a set of predictions.
type Accuracy struct {
	N          int     `json:"n"`
	Exact      float64 `json:"exact"`       // token-for-token equal to the reference
	Functional float64 `json:"functional"`  // equivalent to the reference (exact polynomial check)
	WellFormed float64 `json:"well_formed"` // parses without a compile error
}

// String is a one-line summary, e.g. "exact 98.70% functional 99.10% well-formed 100.00% (n=1000)".
func (a Accuracy) String() string {
	return fmt.Sprintf("exact %.2f%% functional %.2f%% well-formed %.2f%% (n=%d)",
		100*a.Exact, 100*a.Functional, 100*a.WellFormed, a.N)
}

// Score compares predicted programs with the references of examples, position by position.
func Score(d rpn.Dialect, preds [][]string, examples []rpn.Example) (Accuracy, error) {
	if len(preds) != len(examples) {
		return Accuracy{}, fmt.Errorf("metrics: %d predictions for %d examples", len(preds), len(examples))
	}
	a := Accuracy{N: len(preds)}
	if a.N == 0 {
		return a, fmt.Errorf("metrics: no examples to score")
	}
	for i, p := range preds {
		ref := examples[i].ProgramTokens()
		if slices.Equal(p, ref) {
			a.Exact++
		}
		eq, _, err := rpn.Equivalent(p, ref, d)
		if err == nil {
			a.WellFormed++
		}
		if eq {
			a.Functional++
		}
	}
	n := float64(a.N)
	a.Exact, a.Functional, a.WellFormed = a.Exact/n, a.Functional/n, a.WellFormed/n
	return a, nil
}

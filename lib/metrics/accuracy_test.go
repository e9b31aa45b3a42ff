package metrics

import (
	"math"
	"testing"

	"github.com/execfeed/execfeed/lib/rpn"
)

func TestScore(t *testing.T) {
	exs := []rpn.Example{{Program: "a b +"}, {Program: "a b -"}, {Program: "a b *"}, {Program: "a 2 *"}}
	preds := [][]string{
		{"a", "b", "+"},      // exact
		{"b", "a", "-"},      // wrong: subtraction does not commute
		{"b", "a", "*"},      // functional, not exact
		{"a", "2", "*", "*"}, // malformed
	}
	a, err := Score(rpn.Basic, preds, exs)
	if err != nil {
		t.Fatal(err)
	}
	if a.N != 4 || a.Exact != 0.25 || a.Functional != 0.5 || a.WellFormed != 0.75 {
		t.Fatalf("got %+v", a)
	}
	if _, err := Score(rpn.Basic, preds[:1], exs); err == nil {
		t.Fatal("length mismatch must be an error")
	}
	if _, err := Score(rpn.Basic, nil, nil); err == nil {
		t.Fatal("empty input must be an error")
	}
	_ = math.NaN
}

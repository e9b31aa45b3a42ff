// An experiment script for `go run ./kernel script kernel/testdata/script_example.go [N]`: it
// generates a small RPN data set, scores mutated programs with a built-in and a scripted
// reward, and prints a summary. No build step: the kernel interprets it with yaegi.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/execfeed/execfeed/lib/passk"
	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/sandbox"
)

func main() {
	n := 50
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	cfg := rpn.DefaultGenConfig(rpn.Basic)
	cfg.Train, cfg.Val, cfg.Test = n, 0, 0
	split, err := rpn.Generate(cfg)
	if err != nil {
		panic(err)
	}
	bonus, err := reward.Load("bonus.go", `package main
import "github.com/execfeed/execfeed/lib/reward"
func Reward(s reward.Sample) float64 { return reward.Outcome(s) + 0.5 }
`, reward.Limits{})
	if err != nil {
		panic(err)
	}
	passed, total := 0, 0.0
	for _, ex := range split.Train {
		toks := ex.ProgramTokens()
		// Swap the first two tokens: still correct when they are the operands of + or *.
		cand := append([]string(nil), toks...)
		cand[0], cand[1] = cand[1], cand[0]
		o := sandbox.FailedTest
		if eq, _, err := rpn.Equivalent(cand, toks, rpn.Basic); err != nil {
			o = sandbox.CompileError
		} else if eq {
			o = sandbox.PassedTest
			passed++
		}
		r, err := bonus.Call(reward.Sample{Outcome: o})
		if err != nil {
			panic(err)
		}
		total += r
	}
	fmt.Printf("examples %d, swapped-first-operands still correct %d, pass@1 %.3f, mean scripted reward %.3f\n",
		n, passed, passk.Unbiased(n, passed, 1), total/float64(n))
}

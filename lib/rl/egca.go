package rl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/sandbox"
)

// Execution-Grounded Credit Assignment (EGCA, seed 003). GRPO spreads one outcome signal over
// every token of a program. EGCA runs a near-correct failing program and the reference under the
// same instrumentation, finds the earliest token where the program's execution diverges
// semantically from anything the reference computes, and puts the program's (negative) advantage
// on that token alone.
//
// The precise rule for RPN, as implemented here:
//
//   - Near-correct: the program is well-formed and ran without error on every test, but failed
//     some test (outcome FailedTest). Other programs are treated exactly as in GRPO.
//   - A value is a function of the test inputs: the vector of numbers a token leaves on top of
//     the stack, one per test input (the same inputs the reward used).
//   - The reference computes the set R of the values on top of its stack after each of its tokens
//     (every intermediate result, operand and the final output).
//   - The divergence is the earliest candidate token t whose top-of-stack value is not in R.
//     Operands and results the reference also computes - in any order - are not divergences, so
//     swapping the operands of a commutative operation ("b a +" for "a b +") is not one.
//   - If every value the candidate computes is in R, the candidate stopped too early (its output
//     is one of the reference's intermediate results): the divergence is its EOS token.
//   - The advantage goes to the divergent token only: tokens before it (all computed values the
//     reference also computes) get advantage 0 and stay in the mask (they count in the KL term),
//     tokens after it are masked out.

// Divergence returns the index of the first token of candidate whose top-of-stack value over envs
// is not among the values reference computes, or len(candidate) when there is none (the
// divergence is then the token after the program: its end). It is an error if either program
// fails on one of the inputs: EGCA applies to programs that run.
func Divergence(candidate, reference []string, d rpn.Dialect, envs []rpn.Env) (int, error) {
	if len(envs) == 0 {
		return 0, fmt.Errorf("rl: divergence needs at least one input")
	}
	refTops, err := topValues(reference, d, envs)
	if err != nil {
		return 0, fmt.Errorf("rl: reference %q: %w", strings.Join(reference, " "), err)
	}
	known := make(map[string]bool, len(refTops))
	for _, v := range refTops {
		known[v] = true
	}
	candTops, err := topValues(candidate, d, envs)
	if err != nil {
		return 0, fmt.Errorf("rl: candidate %q: %w", strings.Join(candidate, " "), err)
	}
	for t, v := range candTops {
		if !known[v] {
			return t, nil
		}
	}
	return len(candidate), nil
}

// topValues runs prog on every env and returns, for each token, the top-of-stack values over the
// envs as one key.
func topValues(prog []string, d rpn.Dialect, envs []rpn.Env) ([]string, error) {
	keys := make([]strings.Builder, len(prog))
	for _, env := range envs {
		_, trace, err := rpn.Run(prog, d, env)
		if err != nil {
			return nil, err
		}
		for t, stack := range trace {
			keys[t].WriteString(strconv.FormatInt(stack[len(stack)-1], 10))
			keys[t].WriteByte(',')
		}
	}
	out := make([]string, len(prog))
	for t := range keys {
		out[t] = keys[t].String()
	}
	return out, nil
}

// EGCAMask applies EGCA to a GRPO batch: for every near-correct failing row with a negative
// advantage seqAdv[r], it finds the divergent token, keeps the advantage there only (adv [B,T])
// and masks the tokens after it (mask [B,T]). It records the position in the row's
// Sample.DivergencePos and returns the number of rows it localised.
func EGCAMask(ro *Rollout, seqAdv []float64, adv, mask []float32) (int, error) {
	n := 0
	for r := range ro.N {
		if ro.Results[r].Outcome != sandbox.FailedTest || seqAdv[r] >= 0 {
			continue
		}
		i := ro.Rows[r]
		pos, err := Divergence(ro.Programs[r], ro.Task.Examples[i].ProgramTokens(), ro.Task.Dialect, ro.Task.Envs(i))
		if err != nil {
			return n, err
		}
		if pos >= ro.Lengths[r] {
			continue // no EOS to blame (the program filled every position): leave it to GRPO
		}
		ro.Samples[r].DivergencePos = pos
		for t := range ro.T {
			k := r*ro.T + t
			if t != pos {
				adv[k] = 0
			}
			if t > pos {
				mask[k] = 0
			}
		}
		n++
	}
	return n, nil
}

package rl

import (
	"context"
	"fmt"

	"github.com/execfeed/execfeed/sandbox"
)

// Execution-Grounded Credit Assignment (EGCA, seed 003). GRPO spreads one outcome signal over
// every token of a program. EGCA runs a near-correct failing program and the reference under the
// same instrumentation, finds the earliest point where the program's execution diverges
// semantically from anything the reference computes, and puts the program's (negative) advantage
// on the tokens that wrote it.
//
// The rule, for every language:
//
//   - Near-correct: the program ran without error on every test but failed some test (outcome
//     FailedTest). Other programs are treated exactly as in GRPO.
//   - The language (Language.Divergence) finds the span of the program whose execution first
//     produces a value the reference never produces on the same inputs: for RPN the token whose
//     top-of-stack value is new (lib/rpntask), for Python the line that first assigns or returns
//     a new value (lib/pytask). A program that computes only values the reference computes
//     stopped too early: the blame falls on its end.
//   - That span is mapped to the policy's tokens (Rollout.TokenSpan). The advantage goes to those
//     tokens only: tokens before them get advantage 0 and stay in the mask (they count in the KL
//     term), tokens after them are masked out.

// EGCAMask applies EGCA to a GRPO batch: for every near-correct failing row with a negative
// advantage seqAdv[r], it finds the divergent tokens, keeps the advantage there only (adv [B,T])
// and masks the tokens after them (mask [B,T]). It records the first divergent position in the
// row's Sample.DivergencePos and returns the number of rows it localised. The rollout must have
// token rows and a policy (Sample, or RolloutOf with a policy) and be executed.
func EGCAMask(ro *Rollout, seqAdv []float64, adv, mask []float32) (int, error) {
	if ro == nil || ro.Policy == nil {
		return 0, fmt.Errorf("rl: egca: the rollout needs a policy to map divergences to its tokens")
	}
	if err := ro.tokenShape(); err != nil {
		return 0, fmt.Errorf("rl: egca: %w", err)
	}
	if err := ro.programShape(false); err != nil {
		return 0, fmt.Errorf("rl: egca: %w", err)
	}
	if len(ro.Results) < ro.N || len(ro.Samples) < ro.N {
		return 0, fmt.Errorf("rl: egca: the rollout is not executed (run Execute first)")
	}
	if len(seqAdv) != ro.N || len(adv) != len(ro.Tokens) || len(mask) != len(ro.Tokens) {
		return 0, fmt.Errorf("rl: egca: %d advantages for %d rows, %d token advantages and %d mask entries for %d positions",
			len(seqAdv), ro.N, len(adv), len(mask), len(ro.Tokens))
	}
	task := ro.Task
	var todo []int
	for r := range ro.N {
		if ro.Results[r].Outcome == sandbox.FailedTest && seqAdv[r] < 0 {
			todo = append(todo, r)
		}
	}
	if len(todo) == 0 {
		return 0, nil
	}
	var refs, runs []sandbox.Result
	if task.Lang.NeedsTrace() {
		rows := make([]int, len(todo))
		for i, r := range todo {
			rows[i] = ro.Rows[r]
		}
		var err error
		if refs, err = task.referenceRuns(context.Background(), rows); err != nil {
			return 0, err
		}
		if runs, err = ro.tracedRuns(todo); err != nil {
			return 0, err
		}
	}
	n := 0
	for i, r := range todo {
		p := task.Prompts[ro.Rows[r]]
		res, ref := ro.Results[r], sandbox.Result{}
		if refs != nil {
			res, ref = runs[i], refs[i]
		}
		start, end, ok, err := task.Lang.Divergence(p, ro.Programs[r], res, ref)
		if err != nil {
			return n, fmt.Errorf("rl: egca: task %q prompt %s program %q: %w", task.Name, p.ID, ro.Programs[r], err)
		}
		if !ok {
			continue
		}
		first, last, ok := ro.TokenSpan(r, start, end)
		if !ok {
			continue // e.g. the program filled every position: no end token to blame; leave it to GRPO
		}
		ro.Samples[r].DivergencePos = first
		for t := range ro.T {
			k := r*ro.T + t
			if t < first || t > last {
				adv[k] = 0
			}
			if t > last {
				mask[k] = 0
			}
		}
		n++
	}
	return n, nil
}

// tracedRuns returns traced runs of the programs of rows: the rollout's own results when it ran
// traced, otherwise the programs run again with a trace. EGCA traces only the near-correct
// failing programs it localises, not every sample (see GRPO.Iterate).
func (ro *Rollout) tracedRuns(rows []int) ([]sandbox.Result, error) {
	out := make([]sandbox.Result, len(rows))
	if ro.Traced {
		for i, r := range rows {
			out[i] = ro.Results[r]
		}
		return out, nil
	}
	opts := ro.Task.Options
	opts.Trace = true
	res, err := ro.run(rows, opts)
	if err != nil {
		return nil, fmt.Errorf("rl: egca: task %q: tracing candidates: %w", ro.Task.Name, err)
	}
	return res, nil
}

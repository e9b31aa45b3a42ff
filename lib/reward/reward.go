// Package reward defines what a reward function sees of a sampled program (Sample), the reward
// function type every trainer calls (Func), the built-in rewards of seed 004 (the compiler signal
// of eq. 4.6 and the syntax-only signal of eq. 4.7), and scripted rewards: Go source loaded at run
// time and interpreted by yaegi (see Script), so a user can change the reward without rebuilding.
//
// A trainer builds one Sample per sampled program after running it in the sandbox and calls a
// Func on it:
//
//	r := reward.Outcome(reward.Sample{Outcome: sandbox.FailedTest})  // -0.3
//
// Scripted rewards have the same shape; Script.Func adapts one to a Func.
package reward

import (
	"github.com/execfeed/execfeed/sandbox"
)

// Sample is one sampled program with everything known about it after it ran: what it was asked
// to do, what it is, the reference it is compared with, and what happened when it ran.
type Sample struct {
	// Task names the task, e.g. "rpn", "rpn-ext", "humaneval".
	Task string
	// Description is the natural-language prompt the program was generated from.
	Description string
	// Program is the candidate's source text; Tokens its tokens as the generator emitted them.
	Program string
	Tokens  []string
	// Reference is the reference program's text; ReferenceTokens its tokens.
	Reference       string
	ReferenceTokens []string
	// Outcome is the class of the candidate's run against its tests (sandbox.PassedTest, ...).
	Outcome sandbox.Outcome
	// Passed and Total count the tests the candidate passed and the tests it was run on.
	Passed, Total int
	// Error is the compile or runtime error message, if any.
	Error string
	// StepsCorrect is how many execution steps (trace entries) matched the reference's before the
	// first divergence; -1 when no trace was compared.
	StepsCorrect int
	// DivergencePos is the token index of the first semantic divergence from the reference
	// (seed 003), or -1 when none was found or none was computed.
	DivergencePos int
	// Tests are the per-test verdicts of the run; Trace its execution trace when the run was
	// traced (Python: executed lines with their locals; RPN: stacks). A reward must not keep them.
	Tests []sandbox.TestResult
	Trace []sandbox.Step
}

// Func is a reward function: a score for one sample, larger is better. Trainers call it once per
// sampled program; it must be deterministic and must not keep the sample's slices.
type Func func(Sample) float64

// Rewards of seed 004's compiler signal, eq. (4.6).
const (
	PassedTestReward   = 1.0
	FailedTestReward   = -0.3
	RuntimeErrorReward = -0.6
	CompileErrorReward = -1.0
)

// ForOutcome is seed 004's compiler signal R_cs, eq. (4.6), for an outcome class:
//
//	R_cs(ŷ) = +1    if ŷ passed all unit tests
//	          -0.3  if ŷ failed any unit test, but still compiles
//	          -0.6  if ŷ received RunTime error
//	          -1    if ŷ received Compile error
//
// A Timeout counts as a runtime error (sandbox.Outcome.Class folds it the same way).
func ForOutcome(o sandbox.Outcome) float64 {
	switch o {
	case sandbox.PassedTest:
		return PassedTestReward
	case sandbox.FailedTest:
		return FailedTestReward
	case sandbox.RuntimeError, sandbox.Timeout:
		return RuntimeErrorReward
	}
	return CompileErrorReward
}

// Outcome is the reward of seed 004 eq. (4.6) (see ForOutcome) as a Func: it looks only at
// s.Outcome. Use it when the sample was run against unit tests.
func Outcome(s Sample) float64 { return ForOutcome(s.Outcome) }

// Syntax is seed 004's syntax-only compiler signal, eq. (4.7), used when no unit tests exist:
//
//	R_cs(ŷ) = +1  if ŷ passed compilation test
//	          -1  otherwise
//
// Every outcome except sandbox.CompileError means the program compiled.
func Syntax(s Sample) float64 {
	if s.Outcome == sandbox.CompileError {
		return -1
	}
	return 1
}

// PassRate is the fraction of tests passed, Passed/Total (0 when no test ran): a denser reward
// than eq. (4.6) when a problem has several tests.
func PassRate(s Sample) float64 {
	if s.Total <= 0 {
		return 0
	}
	return float64(s.Passed) / float64(s.Total)
}

// Builtin returns a built-in reward by name: "outcome" (eq. 4.6), "syntax" (eq. 4.7),
// "passrate", "ast" (eq. 4.8) or "dfg" (eq. 4.9); ok is false for an unknown name.
func Builtin(name string) (f Func, ok bool) {
	switch name {
	case "outcome":
		return Outcome, true
	case "syntax":
		return Syntax, true
	case "passrate":
		return PassRate, true
	case "ast":
		return AST, true
	case "dfg":
		return DFG, true
	}
	return nil, false
}

// Sum returns a Func that adds the rewards of fs, each scaled by its weight: Sum([]float64{1,
// 0.5}, Outcome, PassRate). It panics if the lengths differ.
func Sum(weights []float64, fs ...Func) Func {
	if len(weights) != len(fs) {
		panic("reward.Sum: len(weights) != len(fs)")
	}
	return func(s Sample) float64 {
		var r float64
		for i, f := range fs {
			r += weights[i] * f(s)
		}
		return r
	}
}

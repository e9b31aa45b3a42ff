package rl

import (
	"context"
	"fmt"
	"slices"

	"github.com/execfeed/execfeed/sandbox"
)

// Prompt is one thing to write a program for: what the policy sees, a reference program, and the
// unit tests every candidate is run against.
type Prompt struct {
	// ID names the prompt in errors and results (a task id, or the example's index).
	ID string
	// Text is what the policy is given: a natural-language description, or HumanEval's signature
	// and docstring.
	Text string
	// Reference is a correct completion. It is never imitated by the RL methods; it serves the
	// structure rewards, trace preferences (ETA) and divergence (EGCA).
	Reference string
	// Prefix is prepended to a completion to form the program that runs (HumanEval's prompt);
	// empty when the completion is the whole program.
	Prefix string
	Tests  []sandbox.Test
}

// Program is the source that runs for completion c: Prefix + c.
func (p Prompt) Program(c string) string { return p.Prefix + c }

// Language is the task seam's language half: the rules that depend on the programming language,
// implemented once per language (RPN in lib/rpntask, Python in lib/pytask).
type Language interface {
	// Name is the sandbox language programs run as.
	Name() sandbox.Language
	// Tokenize splits program source into lexemes (what a lexeme-level policy emits and what the
	// structure rewards compare); Detokenize is its inverse: the source it gives runs
	// identically to the tokenized source.
	Tokenize(src string) ([]string, error)
	Detokenize(lexemes []string) string
	// NeedsTrace reports whether StepsCorrect and Divergence read the candidate's execution trace
	// (sandbox.Options.Trace); runs are then traced.
	NeedsTrace() bool
	// RunOptions adjusts the sandbox options of a candidate's run for prompt p (e.g. RPN names the
	// reference, whose trace the executor compares the candidate's with).
	RunOptions(p Prompt, o sandbox.Options) sandbox.Options
	// StepsCorrect is seed 001's measure for trace preferences: how many execution steps the
	// candidate got right before it failed, judged against the reference's run on the same
	// inputs (ref is the reference's traced run; res the candidate's).
	StepsCorrect(p Prompt, res, ref sandbox.Result) int
	// Divergence is seed 003's rule: for a candidate that ran and failed a test, the byte span
	// [start, end) of the completion c where its execution first produces a value the
	// reference never produces on the same inputs; start == len(c) blames the end of the
	// program (it stopped too early). ok is false when no divergence was found.
	Divergence(p Prompt, c string, res, ref sandbox.Result) (start, end int, ok bool, err error)
}

// GreedyScorer is implemented by languages that decide functional equivalence of a greedy
// prediction with the reference themselves (RPN: exactly, by canonical polynomials) rather than by
// the unit tests.
type GreedyScorer interface {
	ScoreGreedy(preds, refs []string) (exact, functional, wellFormed []bool)
}

// Task is the task seam: prompts with references and tests, the language's rules, and the
// executor that runs candidates. Methods see nothing else of a language or a data set.
type Task struct {
	Name    string // e.g. "rpn-ext", "pyfn", "humaneval"
	Lang    Language
	Prompts []Prompt
	Exec    sandbox.Executor
	// Options bound every run (timeout, memory...); Trace is switched on when the language needs
	// it.
	Options sandbox.Options
	// Dropped counts examples left out when the task was built (e.g. an RPN reference that fails
	// on almost every input), so results can say so.
	Dropped int

	refs []*sandbox.Result // the reference's traced run per prompt, computed on first use
}

// Len is the number of prompts.
func (t *Task) Len() int { return len(t.Prompts) }

// Texts returns the prompt texts of rows.
func (t *Task) Texts(rows []int) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = t.Prompts[r].Text
	}
	return out
}

// Check runs every prompt's reference against its tests and fails, naming the prompt, when one
// does not pass: a task whose reference fails would silently teach that its tests are wrong.
func (t *Task) Check(ctx context.Context) error {
	if t.Lang == nil || t.Exec == nil || len(t.Prompts) == 0 {
		return fmt.Errorf("rl: task %q needs a language, an executor and prompts", t.Name)
	}
	rows, refs := make([]int, len(t.Prompts)), make([]string, len(t.Prompts))
	for i, p := range t.Prompts {
		if len(p.Tests) == 0 {
			return fmt.Errorf("rl: task %q prompt %s has no tests", t.Name, p.ID)
		}
		rows[i], refs[i] = i, p.Reference
	}
	res, err := t.run(ctx, rows, refs, t.Options)
	if err != nil {
		return fmt.Errorf("rl: task %q: checking references: %w", t.Name, err)
	}
	for i, r := range res {
		if err := t.referencePasses(i, r); err != nil {
			return err
		}
	}
	return nil
}

// run runs completions[i], written for prompt rows[i], against that prompt's tests: one batch
// for the executor.
func (t *Task) run(ctx context.Context, rows []int, completions []string, opts sandbox.Options) ([]sandbox.Result, error) {
	jobs := make([]sandbox.Job, len(rows))
	for i, r := range rows {
		p := t.Prompts[r]
		jobs[i] = sandbox.Job{Program: sandbox.Program{Lang: t.Lang.Name(), Source: p.Program(completions[i])}, Tests: p.Tests}
	}
	return t.Exec.RunBatch(ctx, jobs, opts)
}

// referencePasses is the error, naming the prompt, for a run of prompt row's reference that did
// not pass its tests (nil when it passed).
func (t *Task) referencePasses(row int, r sandbox.Result) error {
	if r.Outcome == sandbox.PassedTest {
		return nil
	}
	return fmt.Errorf("rl: task %q prompt %s: the reference fails its own tests (%s: %s)", t.Name,
		t.Prompts[row].ID, r.Outcome, r.Error)
}

// referenceRuns returns the reference's traced run of each prompt of rows (traced once per prompt
// and kept).
func (t *Task) referenceRuns(ctx context.Context, rows []int) ([]sandbox.Result, error) {
	if t.refs == nil {
		t.refs = make([]*sandbox.Result, len(t.Prompts))
	}
	var todo []int
	for _, r := range rows {
		if t.refs[r] == nil && !slices.Contains(todo, r) {
			todo = append(todo, r)
		}
	}
	if len(todo) > 0 {
		refs := make([]string, len(todo))
		for i, r := range todo {
			refs[i] = t.Prompts[r].Reference
		}
		opts := t.Options
		opts.Trace = true
		res, err := t.run(ctx, todo, refs, opts)
		if err != nil {
			return nil, fmt.Errorf("rl: task %q: tracing references: %w", t.Name, err)
		}
		for i, r := range todo {
			if err := t.referencePasses(r, res[i]); err != nil {
				return nil, err
			}
			t.refs[r] = &res[i]
		}
	}
	out := make([]sandbox.Result, len(rows))
	for i, r := range rows {
		out[i] = *t.refs[r]
	}
	return out, nil
}

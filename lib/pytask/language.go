package pytask

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/sandbox"
)

// Language is Python as an rl.Language. Its execution-feedback rules read the sandbox's line
// trace (sandbox.Options.Trace): one step per executed line of the candidate, with a snapshot
// of the frame's local variables (name -> repr) as the line is about to run, and a step whose
// locals hold ReturnKey when a function called by the tests returns.
//
// From a trace the rules extract value events, in execution order:
//
//   - an assignment: a local whose value is new or changed since the previous step of the trace
//     was produced by the previous step's line (values are compared by their repr; names that
//     start with "." - a comprehension's iterator - and reprs of objects at an address are not
//     values);
//   - a return: the value a call from the tests returned, at the line of the return.
//
// The reference's run on the same tests gives the set R of the values it ever holds or returns
// (its inputs included). A value of the candidate is known when it is in R. An unknown value
// assigned to a variable is forgiven when the same variable later, in the same call, holds a
// known value: a loop that accumulates a list or a sum passes through partial results that a
// comprehension or a builtin never shows, and that is a rewrite, not a mistake.
//
// Divergence (seed 003) is the first event, in execution order, that is either an assignment of
// an unknown value that is not forgiven, or a return that differs from the reference's return in
// the same call (an unknown value, or one of the reference's intermediate values: the program
// stopped too early). Its line is the span blamed. StepsCorrect (seed 001) is the number of events before the
// divergence, all of them for a program without one.
type Language struct{}

// ReturnKey marks a trace step that records a return value (Locals[ReturnKey] is its repr).
const ReturnKey = "<return>"

// Name is sandbox.Python.
func (Language) Name() sandbox.Language { return sandbox.Python }

// Tokenize is the package's Tokenize.
func (Language) Tokenize(src string) ([]string, error) { return Tokenize(src) }

// Detokenize is the package's Detokenize.
func (Language) Detokenize(toks []string) string { return Detokenize(toks) }

// NeedsTrace is true: the rules read line traces.
func (Language) NeedsTrace() bool { return true }

// RunOptions leaves the options as they are.
func (Language) RunOptions(_ rl.Prompt, o sandbox.Options) sandbox.Options { return o }

// StepsCorrect counts the candidate's value events before its divergence from the reference.
func (Language) StepsCorrect(_ rl.Prompt, res, ref sandbox.Result) int {
	evs := Events(res.Trace)
	if i, ok := divergence(evs, ref.Trace); ok {
		return i
	}
	return len(evs)
}

// Divergence returns the byte span in completion c of the line where the candidate first
// diverges from the reference (see Language).
func (Language) Divergence(p rl.Prompt, c string, res, ref sandbox.Result) (start, end int, ok bool, err error) {
	if len(res.Trace) == 0 {
		return 0, 0, false, nil
	}
	evs := Events(res.Trace)
	i, ok := divergence(evs, ref.Trace)
	if !ok {
		return 0, 0, false, nil
	}
	s, e, ok := lineSpan(p.Program(c), evs[i].Line)
	s, e = s-len(p.Prefix), e-len(p.Prefix)
	if !ok || s < 0 {
		return 0, 0, false, nil // a line of the prompt (HumanEval's signature): nothing to blame
	}
	return s, e, true, nil
}

// Event is one value a program produced: Name is the local assigned (ReturnKey for a return),
// Value its repr, Line the line that produced it, Call the index of the call from the tests it
// happened in.
type Event struct {
	Line        int
	Name, Value string
	Call        int
}

// Events extracts the value events of a trace (see Language).
func Events(trace []sandbox.Step) []Event {
	var out []Event
	var prev map[string]string
	prevLine, call := 0, 0
	for _, st := range trace {
		if v, ok := st.Locals[ReturnKey]; ok {
			out = append(out, Event{Line: st.Pos, Name: ReturnKey, Value: v, Call: call})
			call++
			prev, prevLine = nil, 0
			continue
		}
		names := make([]string, 0, len(st.Locals))
		for n := range st.Locals {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			v := st.Locals[n]
			if !isValue(n, v) {
				continue
			}
			if pv, seen := prev[n]; prevLine > 0 && (!seen || pv != v) {
				out = append(out, Event{Line: prevLine, Name: n, Value: v, Call: call})
			}
		}
		prev, prevLine = st.Locals, st.Pos
	}
	return out
}

func isValue(name, repr string) bool {
	return !strings.HasPrefix(name, ".") && !strings.Contains(repr, " at 0x") && repr != "<unrepresentable>"
}

// known is the set R of values a reference run holds or returns.
func known(trace []sandbox.Step) map[string]bool {
	r := map[string]bool{}
	for _, st := range trace {
		for n, v := range st.Locals {
			if isValue(n, v) {
				r[v] = true
			}
		}
	}
	return r
}

// divergence returns the index of the candidate event where it diverges from the reference's
// traced run, and false when it does not.
func divergence(cand []Event, refTrace []sandbox.Step) (int, bool) {
	r := known(refTrace)
	var refReturns []string
	for _, e := range Events(refTrace) {
		if e.Name == ReturnKey {
			refReturns = append(refReturns, e.Value)
		}
	}
	k := 0 // calls returned so far
	for i, e := range cand {
		if e.Name == ReturnKey {
			wrong := !r[e.Value]
			if k < len(refReturns) {
				wrong = e.Value != refReturns[k]
			}
			k++
			if wrong {
				return i, true
			}
			continue
		}
		if r[e.Value] {
			continue
		}
		forgiven := false
		for _, later := range cand[i+1:] {
			if later.Call != e.Call {
				break
			}
			if later.Name == e.Name && r[later.Value] {
				forgiven = true
				break
			}
		}
		if !forgiven {
			return i, true
		}
	}
	return 0, false
}

// lineSpan is the byte span of line n (1-based) of src, without its newline.
func lineSpan(src string, n int) (start, end int, ok bool) {
	if n < 1 {
		return 0, 0, false
	}
	for line := 1; line < n; line++ {
		i := strings.IndexByte(src[start:], '\n')
		if i < 0 {
			return 0, 0, false
		}
		start += i + 1
	}
	end = start + strings.IndexByte(src[start:]+"\n", '\n')
	return start, end, true
}

// NewTask makes a task of examples of the family (or any MBPP-style examples): prompts are the
// descriptions, references the code, tests the asserts. Every reference is run against its own
// tests (rl.Task.Check): one that fails is an error naming the task.
func NewTask(name string, examples []Example, exec sandbox.Executor, opts sandbox.Options) (*rl.Task, error) {
	t := &rl.Task{Name: name, Lang: Language{}, Exec: exec, Options: opts}
	for i, ex := range examples {
		if ex.Description == "" || ex.Code == "" || len(ex.Tests) == 0 {
			return nil, fmt.Errorf("pytask: %s example %d: needs a description, code and tests", name, i)
		}
		p := rl.Prompt{ID: fmt.Sprintf("%s/%d", name, i), Text: ex.Description, Reference: ex.Code}
		for _, a := range ex.Tests {
			p.Tests = append(p.Tests, sandbox.Test{Code: a})
		}
		t.Prompts = append(t.Prompts, p)
	}
	return checked(t)
}

// TaskFromProblems makes a task of problems loaded by sandbox.LoadProblems: HumanEval problems
// are completed after their prompt (Prompt.Prefix), MBPP and APPS problems written whole. A
// problem without a reference solution, or whose reference fails its tests, is an error naming it.
func TaskFromProblems(name string, problems []sandbox.Problem, exec sandbox.Executor, opts sandbox.Options) (*rl.Task, error) {
	t := &rl.Task{Name: name, Lang: Language{}, Exec: exec, Options: opts}
	for _, pr := range problems {
		if pr.Reference == "" {
			return nil, fmt.Errorf("pytask: %s problem %s has no reference solution (RL needs one for its rules)", name, pr.TaskID)
		}
		p := rl.Prompt{ID: pr.TaskID, Text: pr.Prompt, Reference: pr.Reference, Tests: slices.Clone(pr.Tests)}
		if pr.Format == sandbox.HumanEval {
			ref, ok := strings.CutPrefix(pr.Reference, pr.Prompt)
			if !ok {
				return nil, fmt.Errorf("pytask: %s problem %s: the reference does not continue the prompt", name, pr.TaskID)
			}
			p.Prefix, p.Reference = pr.Prompt, ref
		}
		t.Prompts = append(t.Prompts, p)
	}
	return checked(t)
}

// checked runs the task's references against their tests.
func checked(t *rl.Task) (*rl.Task, error) {
	if err := t.Check(context.Background()); err != nil {
		return nil, err
	}
	return t, nil
}

// LoadTask reads a HumanEval or MBPP JSONL file (gzipped or not) into a task.
func LoadTask(path string, f sandbox.Format, exec sandbox.Executor, opts sandbox.Options) (*rl.Task, error) {
	problems, err := sandbox.LoadProblems(path, f)
	if err != nil {
		return nil, err
	}
	if len(problems) == 0 {
		return nil, fmt.Errorf("pytask: %s holds no problems", path)
	}
	return TaskFromProblems(path, problems, exec, opts)
}

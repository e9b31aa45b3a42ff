package sandbox

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/execfeed/execfeed/lib/rpn"
)

// RPNExecutor runs RPN and rpn-ext programs in-process. Programs are checked and compiled once to
// byte codes, then evaluated on every test's input; traces come from rpn.Run, so they are the
// language's own. The zero value is ready to use.
type RPNExecutor struct {
	// Workers is the number of goroutines RunBatch uses (default runtime.GOMAXPROCS(0)).
	Workers int
}

var _ Executor = (*RPNExecutor)(nil)

// Byte codes of a compiled RPN program: 0-9 push that constant.
const (
	opA byte = 10 + iota
	opB
	opC
	opAdd
	opSub
	opMul
	opDiv
	opDup
	opSwap
)

// RPNProgram is a checked, compiled RPN program: evaluate it on many inputs without re-parsing.
type RPNProgram struct {
	Tokens   []string
	Dialect  rpn.Dialect
	ops      []byte
	maxDepth int
}

// CompileRPN checks a program and compiles it. A malformed program (unknown token, stack
// underflow, leftover values, empty) returns the *rpn.Error of rpn.Check.
func CompileRPN(source string, d rpn.Dialect) (*RPNProgram, error) {
	toks := rpn.Tokenize(source)
	if err := rpn.Check(toks, d); err != nil {
		return nil, err
	}
	p := &RPNProgram{Tokens: toks, Dialect: d, ops: make([]byte, len(toks))}
	depth := 0
	for i, t := range toks {
		var op byte
		switch t {
		case "a":
			op, depth = opA, depth+1
		case "b":
			op, depth = opB, depth+1
		case "c":
			op, depth = opC, depth+1
		case "+":
			op, depth = opAdd, depth-1
		case "-":
			op, depth = opSub, depth-1
		case "*":
			op, depth = opMul, depth-1
		case "/":
			op, depth = opDiv, depth-1
		case "dup":
			op, depth = opDup, depth+1
		case "swap":
			op = opSwap
		default:
			op, depth = t[0]-'0', depth+1
		}
		p.ops[i] = op
		p.maxDepth = max(p.maxDepth, depth)
	}
	return p, nil
}

// Eval runs the compiled program on env. The only possible error is a division by zero, an
// *rpn.Error with the position of the "/" token (the same error rpn.Run reports).
func (p *RPNProgram) Eval(env rpn.Env) (int64, error) {
	var buf [32]int64
	var s []int64
	if p.maxDepth <= len(buf) {
		s = buf[:p.maxDepth]
	} else {
		s = make([]int64, p.maxDepth)
	}
	n := 0
	for i, op := range p.ops {
		switch op {
		case opA:
			s[n] = env.A
			n++
		case opB:
			s[n] = env.B
			n++
		case opC:
			s[n] = env.C
			n++
		case opAdd:
			n--
			s[n-1] += s[n]
		case opSub:
			n--
			s[n-1] -= s[n]
		case opMul:
			n--
			s[n-1] *= s[n]
		case opDiv:
			if s[n-1] == 0 {
				return 0, &rpn.Error{Kind: rpn.DivisionByZero, Pos: i, Token: "/", Depth: n}
			}
			n--
			s[n-1] /= s[n]
		case opDup:
			s[n] = s[n-1]
			n++
		case opSwap:
			s[n-1], s[n-2] = s[n-2], s[n-1]
		default:
			s[n] = int64(op)
			n++
		}
	}
	return s[0], nil
}

// MatchingPrefix is the number of leading steps whose stacks agree: the largest m such that
// candidate[i] and reference[i] hold equal stacks for every i < m. It is the "steps executed
// correctly before the first failure" of an RPN program measured against a reference program's
// trace on the same input (trace-based DPO, EGCA's first divergent token).
func MatchingPrefix(candidate, reference [][]int64) int {
	m := 0
	for m < len(candidate) && m < len(reference) && slices.Equal(candidate[m], reference[m]) {
		m++
	}
	return m
}

func dialectOf(l Language) (rpn.Dialect, error) {
	switch l {
	case RPN:
		return rpn.Basic, nil
	case RPNExt:
		return rpn.Ext, nil
	}
	return rpn.Basic, errUnsupported("rpn", l)
}

func stackSteps(trace [][]int64) []Step {
	steps := make([]Step, len(trace))
	for i, s := range trace {
		steps[i] = Step{Pos: i, Stack: s}
	}
	return steps
}

// Run runs an RPN program against its tests. Options other than Trace, MaxTraceSteps and
// Reference do not apply: RPN programs always terminate in a number of steps equal to their length.
func (e *RPNExecutor) Run(ctx context.Context, p Program, tests []Test, opts Options) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	d, err := dialectOf(p.Lang)
	if err != nil {
		return Result{}, err
	}
	var ref *RPNProgram
	if opts.Reference != "" {
		if ref, err = CompileRPN(opts.Reference, d); err != nil {
			return Result{}, fmt.Errorf("sandbox: reference program %q: %w", opts.Reference, err)
		}
	}
	return runRPN(p.Source, d, tests, opts, ref), nil
}

func runRPN(source string, d rpn.Dialect, tests []Test, opts Options, ref *RPNProgram) Result {
	start := time.Now()
	res := Result{Outcome: PassedTest, Tests: make([]TestResult, len(tests))}
	prog, err := CompileRPN(source, d)
	if err != nil {
		res.Outcome, res.Error = CompileError, err.Error()
		for i, t := range tests {
			res.Tests[i] = TestResult{Name: t.Name, Outcome: CompileError, Error: res.Error}
		}
		res.Time = time.Since(start)
		return res
	}
	maxSteps := opts.withDefaults().MaxTraceSteps
	wantTrace := opts.Trace || ref != nil
	res.StepsCorrect = len(prog.Tokens)
	firstBad := -1
	for i, t := range tests {
		t0 := time.Now()
		tr := TestResult{Name: t.Name, Outcome: PassedTest}
		v, err := prog.Eval(t.Env)
		steps := len(prog.Tokens)
		if err != nil {
			tr.Outcome, tr.Error = RuntimeError, err.Error()
			steps = rpn.AsError(err).Pos
		} else {
			tr.Got = strconv.FormatInt(v, 10)
			if v != t.Want {
				tr.Outcome, tr.Error = FailedTest, fmt.Sprintf("got %d, want %d", v, t.Want)
			}
		}
		if wantTrace {
			_, trace, _ := rpn.Run(prog.Tokens, d, t.Env)
			if ref != nil && tr.Outcome != PassedTest {
				_, rt, _ := rpn.Run(ref.Tokens, d, t.Env)
				steps = MatchingPrefix(trace, rt)
			}
			if opts.Trace {
				tr.Trace = stackSteps(trace[:min(len(trace), maxSteps)])
			}
		}
		if tr.Outcome != PassedTest {
			res.StepsCorrect = min(res.StepsCorrect, steps)
			if firstBad < 0 {
				firstBad = i
				res.Error = fmt.Sprintf("test %d: %s", i, tr.Error)
			}
		}
		tr.Time = time.Since(t0)
		res.Tests[i] = tr
	}
	if opts.Trace && len(tests) > 0 {
		res.Trace = res.Tests[max(firstBad, 0)].Trace
		res.TraceSteps = len(prog.Tokens)
		if firstBad >= 0 && res.Tests[firstBad].Outcome == RuntimeError {
			res.TraceSteps = len(res.Trace)
		}
	}
	res.summarize()
	res.Time = time.Since(start)
	return res
}

// RunBatch runs the jobs on Workers goroutines.
func (e *RPNExecutor) RunBatch(ctx context.Context, jobs []Job, opts Options) ([]Result, error) {
	out := make([]Result, len(jobs))
	refs := map[rpn.Dialect]*RPNProgram{}
	for _, j := range jobs {
		d, err := dialectOf(j.Program.Lang)
		if err != nil {
			return nil, err
		}
		if _, ok := refs[d]; !ok && opts.Reference != "" {
			r, err := CompileRPN(opts.Reference, d)
			if err != nil {
				return nil, fmt.Errorf("sandbox: reference program %q: %w", opts.Reference, err)
			}
			refs[d] = r
		}
	}
	workers := e.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(jobs)))
	var wg sync.WaitGroup
	chunk := (len(jobs) + workers - 1) / max(workers, 1)
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(jobs))
		if lo >= hi {
			break
		}
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				if i%256 == 0 && ctx.Err() != nil {
					return
				}
				d, _ := dialectOf(jobs[i].Program.Lang)
				out[i] = runRPN(jobs[i].Program.Source, d, jobs[i].Tests, opts, refs[d])
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Close does nothing: the RPN executor holds no resources.
func (e *RPNExecutor) Close() error { return nil }

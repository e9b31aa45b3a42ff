package sandbox

import (
	"context"
	"fmt"
	"time"

	"github.com/execfeed/execfeed/lib/rpn"
)

// Language names the language of a Program.
type Language string

const (
	// RPN is seed 000's RPN language (rpn.Basic).
	RPN Language = "rpn"
	// RPNExt is rpn-ext (rpn.Ext): adds "/", "dup", "swap".
	RPNExt Language = "rpn-ext"
	// Python is Python 3, run by a Pool of worker processes.
	Python Language = "python"
)

// Program is a candidate program to run.
type Program struct {
	Lang   Language
	Source string
}

// Test is one check of a program. Which fields count depends on the language:
//
//   - RPN / rpn-ext: the program runs on Env and must return Want.
//   - Python, assertion test (Code != ""): the program runs once as a module, then Code runs in
//     the same globals; an AssertionError is a failed test, any other exception a runtime error.
//     HumanEval's check(entry_point) and MBPP's assert lines are assertion tests.
//   - Python, stdin/stdout test (Code == ""): the program runs as __main__ with Stdin on sys.stdin;
//     its stdout must equal Stdout up to trailing whitespace on each line and trailing blank lines.
//
// A Python run mixes no kinds: either every test has Code or none has.
type Test struct {
	Name string // optional label echoed in TestResult

	Env  rpn.Env // RPN input variables a, b, c
	Want int64   // RPN expected value

	Code   string // Python assertion code
	Stdin  string // Python stdin/stdout test input
	Stdout string // Python stdin/stdout test expected output
}

// Options bound one run. The zero value means the defaults noted on each field.
type Options struct {
	// Timeout is the wall-clock limit of the whole run, all tests together (default 3s, the
	// reference HumanEval harness's value). Python only; RPN programs always terminate.
	Timeout time.Duration
	// CPUTime is the CPU-time limit (RLIMIT_CPU, rounded up to whole seconds; default Timeout).
	CPUTime time.Duration
	// MemoryBytes is the address-space limit (RLIMIT_AS; default 1 GiB).
	MemoryBytes int64
	// MaxProcs is the process-count limit of the run (RLIMIT_NPROC; default 16).
	MaxProcs int
	// MaxFileBytes is the largest file the program may write (RLIMIT_FSIZE; default 16 MiB).
	MaxFileBytes int64
	// MaxOutputBytes caps each captured stream (stdout, stderr, a test's output; default 64 KiB).
	MaxOutputBytes int
	// Trace asks for an execution trace: the stack after every token (RPN), or the executed lines
	// of the candidate with a bounded snapshot of its local variables (Python), plus one step
	// per return of a function called by the tests (see Step.Locals).
	Trace bool
	// MaxTraceSteps bounds the recorded trace (default 10,000 steps; counting goes on past it).
	MaxTraceSteps int
	// MaxLocals and MaxReprLen bound each Python trace step's snapshot (defaults 16 variables,
	// 80 characters per value).
	MaxLocals, MaxReprLen int
	// Reference, for RPN, is the reference program whose trace StepsCorrect is measured against.
	Reference string
	// StrictVerdicts (Python) refuses to run tests that cannot be judged outside the candidate's
	// process (tests that pass the program objects of non-builtin types, e.g. lambdas): they get
	// RuntimeError instead of a Result marked Forgeable.
	StrictVerdicts bool
}

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.CPUTime <= 0 {
		o.CPUTime = o.Timeout
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = 1 << 30
	}
	if o.MaxProcs <= 0 {
		o.MaxProcs = 16
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 16 << 20
	}
	if o.MaxOutputBytes <= 0 {
		o.MaxOutputBytes = 64 << 10
	}
	if o.MaxTraceSteps <= 0 {
		o.MaxTraceSteps = 10000
	}
	if o.MaxLocals <= 0 {
		o.MaxLocals = 16
	}
	if o.MaxReprLen <= 0 {
		o.MaxReprLen = 80
	}
	return o
}

// Step is one step of an execution trace.
type Step struct {
	// Pos is the token index (RPN) or the source line, 1-based (Python).
	Pos int `json:"pos"`
	// Stack is the RPN stack after the token, bottom first.
	Stack []int64 `json:"stack,omitempty"`
	// Locals is a bounded snapshot of the Python frame's local variables (name -> repr) as the line
	// is about to run. A step that records a return from a function called by the tests holds one
	// pseudo-local instead, "<return>", the repr of the returned value (Pos is the returning line).
	Locals map[string]string `json:"locals,omitempty"`
}

// TestResult is the verdict on one test.
type TestResult struct {
	Name    string        `json:"name,omitempty"`
	Outcome Outcome       `json:"outcome"`
	Got     string        `json:"got,omitempty"` // RPN value, or a stdin/stdout test's output
	Error   string        `json:"error,omitempty"`
	Time    time.Duration `json:"time_ns"`
	// Trace is the RPN trace of this test's run (Options.Trace). Python traces are in Result.Trace.
	Trace []Step `json:"trace,omitempty"`
}

// Result is what happened when a program ran against its tests.
//
// Outcome combines the tests: CompileError if the program does not compile (nothing runs);
// otherwise Timeout if the run hit its time limit; otherwise RuntimeError if the program or any
// test raised an error other than a failed assertion (or the process died); otherwise FailedTest if
// any test failed; otherwise PassedTest. A program with no tests passes when it runs without error.
type Result struct {
	Outcome Outcome      `json:"outcome"`
	Tests   []TestResult `json:"tests,omitempty"`
	Passed  int          `json:"passed"` // number of tests passed
	// Error describes the compile or runtime error, the failed test or the timeout.
	Error string `json:"error,omitempty"`
	// Stdout and Stderr are what the program printed outside stdin/stdout tests, capped.
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	// Truncated reports that some output went past Options.MaxOutputBytes.
	Truncated bool          `json:"truncated,omitempty"`
	Time      time.Duration `json:"time_ns"`
	// Trace is the Python line trace of the whole run (Options.Trace); for RPN, the trace of the
	// first failing test, or of the first test when all pass.
	Trace []Step `json:"trace,omitempty"`
	// TraceSteps is the number of steps executed, which may exceed len(Trace).
	TraceSteps int `json:"trace_steps,omitempty"`
	// StepsCorrect is the number of steps executed correctly before the first failure:
	//   - RPN with Options.Reference: over the tests, the smallest number of leading tokens whose
	//     stack equals the reference program's stack after the same number of tokens (see
	//     MatchingPrefix); a passing program scores its full length.
	//   - RPN without a reference: the number of tokens executed before the first error (all of
	//     them when no test raised a runtime error; 0 for a compile error).
	//   - Python (Options.Trace): the number of executed lines of the candidate before the first
	//     failing test or exception was observed (all executed lines when every test passed).
	StepsCorrect int `json:"steps_correct"`
	// Isolation says which protections were in force for the run (Python only).
	Isolation *Isolation `json:"isolation,omitempty"`
	// Forgeable reports that the tests ran inside the candidate's own process, so that a program
	// written to attack the harness could have forged the verdict (Python tests that pass the
	// program objects the strict serialiser cannot carry; see docs/SANDBOX.md). Otherwise every
	// verdict was decided by the worker's judge process, from builtin values the program returned.
	Forgeable bool `json:"forgeable,omitempty"`
}

// Isolation lists the protections a Python worker applied. A false field is a protection the
// operating system did not allow; see docs/SANDBOX.md.
type Isolation struct {
	Python     string   `json:"python"`              // interpreter version, e.g. "3.11.7"
	NetNS      bool     `json:"netns"`               // private network namespace (no network at all)
	UserNS     bool     `json:"userns,omitempty"`    // namespaces set up inside a user namespace (not root)
	PidNS      bool     `json:"pidns,omitempty"`     // each worker's programs in their own pid namespace
	Seccomp    bool     `json:"seccomp,omitempty"`   // system-call filter installed
	PrivateUID int      `json:"private_uid"`         // uid the programs run as; 0 when not separated
	Hidden     []string `json:"hidden"`              // host paths hidden ("/": all but Allowlist)
	Allowlist  []string `json:"allowlist,omitempty"` // host paths visible (read-only) to the programs
	DiskQuota  bool     `json:"disk_quota"`          // run directories on a size-limited private tmpfs
	Notes      []string `json:"notes,omitempty"`
}

// Job is one program with its tests, for batched execution.
type Job struct {
	Program Program
	Tests   []Test
}

// Executor runs candidate programs. Run and RunBatch never fail because of the program: every
// misbehaviour is an Outcome. The error is for the executor itself (closed, context cancelled,
// unsupported language, a worker that cannot be started).
type Executor interface {
	// Run runs one program against its tests.
	Run(ctx context.Context, p Program, tests []Test, opts Options) (Result, error)
	// RunBatch runs many jobs, in parallel where the executor can; results are in job order.
	RunBatch(ctx context.Context, jobs []Job, opts Options) ([]Result, error)
	// Close releases the executor's resources.
	Close() error
}

// Summarize derives Passed and Outcome (when not CompileError or Timeout) from r.Tests.
func (r *Result) summarize() {
	r.Passed = 0
	worst := PassedTest
	rank := func(o Outcome) int {
		switch o {
		case PassedTest:
			return 0
		case FailedTest:
			return 1
		case RuntimeError:
			return 2
		case Timeout:
			return 3
		}
		return 4
	}
	for _, t := range r.Tests {
		if t.Outcome == PassedTest {
			r.Passed++
		}
		if rank(t.Outcome) > rank(worst) {
			worst = t.Outcome
		}
	}
	if r.Outcome != CompileError && r.Outcome != Timeout && rank(worst) > rank(r.Outcome) {
		r.Outcome = worst
	}
}

// hangGrace is how long past a run's timeout a worker (or a remote server) may take to answer
// before it is deemed hung (its own cleanup after a timeout takes milliseconds). Shared by the
// Linux pool and the remote executor, so it lives outside python.go.
var hangGrace = 5 * time.Second

// harnessVerdict is test t's result from a harness's report: the outcome's name (one the harness
// should not send counts as a runtime error), the output, the error and the seconds it took.
func harnessVerdict(t Test, outcome, got, errMsg string, seconds float64) TestResult {
	o, err := ParseOutcome(outcome)
	if err != nil {
		o = RuntimeError
	}
	return TestResult{Name: t.Name, Outcome: o, Got: got, Error: errMsg, Time: time.Duration(seconds * float64(time.Second))}
}

// errUnsupported is returned for a language the executor does not run.
func errUnsupported(exec string, l Language) error {
	return fmt.Errorf("sandbox: %s executor does not run language %q", exec, l)
}

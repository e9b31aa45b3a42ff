//go:build linux

package sandbox

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPythonVerdicts(t *testing.T) {
	tests := []Test{{Name: "one", Code: "assert sq(3) == 9"}, {Name: "two", Code: "assert sq(-2) == 4"}}
	cases := []struct {
		name, src string
		want      Outcome
		err       string
		passed    int
	}{
		{"correct", "def sq(x):\n    return x * x\n", PassedTest, "", 2},
		{"wrong answer", "def sq(x):\n    return x * 2\n", FailedTest, "AssertionError", 0},
		{"partly right", "def sq(x):\n    return x * x if x > 0 else x\n", FailedTest, "AssertionError", 1},
		{"exception", "def sq(x):\n    return x / 0\n", RuntimeError, "ZeroDivisionError", 0},
		{"exception at import", "raise ValueError('boom')\n", RuntimeError, "ValueError: boom", 0},
		{"syntax error", "def sq(x)\n    return x * x\n", CompileError, "SyntaxError", 0},
		{"timeout", "def sq(x):\n    while True:\n        pass\n", Timeout, "time limit", 0},
		{"sys.exit before tests", "import sys\nsys.exit(0)\n", RuntimeError, "SystemExit", 0},
		{"os._exit before tests", "import os\nos._exit(0)\n", RuntimeError, "no result", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runPy(t, c.src, tests, Options{Timeout: 1500 * time.Millisecond})
			expect(t, r, c.want, c.err)
			if r.Passed != c.passed || len(r.Tests) != 2 {
				t.Errorf("passed %d of %d tests, want %d of 2: %+v", r.Passed, len(r.Tests), c.passed, r.Tests)
			}
			if r.Isolation == nil || r.Isolation.Python == "" {
				t.Errorf("no isolation report: %+v", r.Isolation)
			}
		})
	}
}

func TestPythonStdinStdout(t *testing.T) {
	tests := []Test{{Stdin: "2 3\n", Stdout: "5\n"}, {Stdin: "10 -4\n", Stdout: "6"}}
	r := runPy(t, "a, b = map(int, input().split())\nprint(a + b)\n", tests, Options{})
	expect(t, r, PassedTest, "")
	if r.Tests[0].Got != "5\n" {
		t.Errorf("got %q, want the program's output", r.Tests[0].Got)
	}
	// sys.stdin.buffer and exit() after the answer, as competitive programs do.
	expect(t, runPy(t, "import sys\na, b = map(int, sys.stdin.buffer.read().split())\nprint(a + b)\nexit()\n", tests, Options{}), PassedTest, "")
	r = runPy(t, "a, b = map(int, input().split())\nprint(a - b)\n", tests, Options{})
	expect(t, r, FailedTest, "wrong output")
	if r.Tests[0].Got != "-1\n" {
		t.Errorf("got %q", r.Tests[0].Got)
	}
	expect(t, runPy(t, "print(1/0)\n", tests, Options{}), RuntimeError, "ZeroDivisionError")
	expect(t, runPy(t, "import sys\nsys.exit(3)\n", tests, Options{}), RuntimeError, "3")
	// stdin closed to programs without stdin tests: input() sees EOF.
	expect(t, runPy(t, "input()\n", nil, Options{}), RuntimeError, "EOFError")
	if _, err := pool(t).Run(context.Background(), Program{Lang: Python, Source: "pass"}, []Test{{Code: "pass"}, {Stdin: "1"}}, Options{}); err == nil {
		t.Error("mixing assertion and stdin/stdout tests should be an error")
	}
	if _, err := pool(t).Run(context.Background(), Program{Lang: RPN, Source: "a"}, nil, Options{}); err == nil {
		t.Error("the Python pool should refuse RPN programs")
	}
}

func TestPythonOutputCapture(t *testing.T) {
	r := runPy(t, "print('hello')\nimport sys\nprint('oops', file=sys.stderr)\n", nil, Options{})
	expect(t, r, PassedTest, "")
	if r.Stdout != "hello\n" || r.Stderr != "oops\n" || r.Truncated {
		t.Errorf("stdout %q stderr %q truncated %v", r.Stdout, r.Stderr, r.Truncated)
	}
	r = runPy(t, "print('x' * 5000)\n", nil, Options{MaxOutputBytes: 100})
	if len(r.Stdout) != 100 || !r.Truncated {
		t.Errorf("stdout of %d bytes (truncated %v), want 100 and truncated", len(r.Stdout), r.Truncated)
	}
}

func TestPythonTrace(t *testing.T) {
	src := "def f(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
	r := runPy(t, src, []Test{{Code: "assert f(3) == 3"}}, Options{Trace: true})
	expect(t, r, PassedTest, "")
	// Module: line 1. f(3): line 2, then 3 4 three times, line 3 once more, line 5.
	// The return of f(3), called by the test, is one more recorded step (not an executed line).
	lines := []int{1, 2, 3, 4, 3, 4, 3, 4, 3, 5}
	if len(r.Trace) != len(lines)+1 || r.TraceSteps != len(lines) || r.StepsCorrect != len(lines) {
		t.Fatalf("trace of %d steps (count %d, correct %d), want %d: %+v", len(r.Trace), r.TraceSteps, r.StepsCorrect, len(lines), r.Trace)
	}
	for i, l := range lines {
		if r.Trace[i].Pos != l {
			t.Fatalf("step %d at line %d, want %d", i, r.Trace[i].Pos, l)
		}
	}
	if last := r.Trace[len(lines)-1].Locals; last["s"] != "3" || last["n"] != "3" {
		t.Errorf("locals at the return: %v", last)
	}
	if ret := r.Trace[len(lines)]; ret.Pos != 5 || ret.Locals["<return>"] != "3" || len(ret.Locals) != 1 {
		t.Errorf("return step %+v, want line 5 returning 3", ret)
	}
	// A failing run: steps before the failure are counted, and the recorded trace is bounded.
	bad := "def f(n):\n    xs = list(range(1000))\n    for i in range(n):\n        xs[i] = i\n    return xs[n]\n"
	r = runPy(t, bad, []Test{{Code: "assert f(2) == 2"}, {Code: "assert f(5000) == 5000"}}, Options{Trace: true, MaxTraceSteps: 20, MaxReprLen: 30})
	expect(t, r, RuntimeError, "IndexError")
	// Module 1 step; f(2): 2, 3 4 3 4 3, 5 = 7 steps; f(5000) fails at step 2 + 2*1000 + 1 (the failing xs[i] = i).
	if want := 1 + 7 + 2 + 2*1000 + 1; r.StepsCorrect != want {
		t.Errorf("steps before failure %d, want %d", r.StepsCorrect, want)
	}
	if len(r.Trace) != 20 || r.TraceSteps < r.StepsCorrect {
		t.Errorf("trace of %d steps (count %d), want 20 recorded", len(r.Trace), r.TraceSteps)
	}
	for _, s := range r.Trace {
		for k, v := range s.Locals {
			if len(v) > 30 {
				t.Errorf("local %s = %q longer than MaxReprLen", k, v)
			}
		}
	}
}

func TestPoolBatch(t *testing.T) {
	var jobs []Job
	for i := range 8 {
		src := "def f(x):\n    return x + 1\n"
		if i%2 == 1 {
			src = "def f(x):\n    return x\n"
		}
		jobs = append(jobs, Job{Program: Program{Lang: Python, Source: src}, Tests: []Test{{Code: "assert f(1) == 2"}}})
	}
	rs, err := pool(t).RunBatch(context.Background(), jobs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		want := PassedTest
		if i%2 == 1 {
			want = FailedTest
		}
		if r.Outcome != want {
			t.Errorf("job %d: %v, want %v", i, r.Outcome, want)
		}
	}
}

// A worker that dies or hangs is replaced; the run in progress gets a verdict, the pool goes on.
func TestWorkerReplaced(t *testing.T) {
	p, err := NewPool(PoolConfig{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	run := func(src string, timeout time.Duration) Result {
		r, err := p.Run(context.Background(), Program{Lang: Python, Source: src}, []Test{{Code: "assert f() == 1"}}, Options{Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Killed from outside during a run.
	pid := p.slots[0].w.cmd.Process.Pid
	go func() {
		time.Sleep(200 * time.Millisecond)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}()
	r := run("import time\ntime.sleep(1)\ndef f(): return 1\n", 2*time.Second)
	expect(t, r, RuntimeError, "died")
	expect(t, run("def f(): return 1\n", time.Second), PassedTest, "")
	// Stopped (hung): deemed hung after the timeout plus the grace period.
	old := hangGrace
	hangGrace = 300 * time.Millisecond
	defer func() { hangGrace = old }()
	_ = syscall.Kill(p.slots[0].w.cmd.Process.Pid, syscall.SIGSTOP)
	r = run("def f(): return 1\n", 200*time.Millisecond)
	expect(t, r, Timeout, "did not answer")
	expect(t, run("def f(): return 1\n", time.Second), PassedTest, "")
	if st := p.Stats(); st.Restarts != 2 || st.Runs != 4 {
		t.Errorf("stats %+v, want 2 restarts and 4 runs", st)
	}
	if p.slots[0].w.cmd.Process.Pid == pid {
		t.Error("worker was not replaced")
	}
}

func TestPoolContextCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	p := pool(t)
	_, err := p.Run(ctx, Program{Lang: Python, Source: "import time\ntime.sleep(5)"}, nil, Options{Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err %v, want the context's deadline", err)
	}
	stillServes(t)
}

// The trace of a HumanEval-style candidate with a loop, its check run by the judge and the calls
// in the candidate's process: the executed lines of the candidate with its locals at every step,
// as RL's EGCA and ETA rules read them.
func TestPythonTraceHumanEvalLoop(t *testing.T) {
	src := "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
	tests := []Test{{Code: "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([5]) == 6\n\ncheck(total)\n"}}
	r := runPy(t, src, tests, Options{Trace: true})
	expect(t, r, FailedTest, "AssertionError")
	// Module: line 1. total([1, 2]): 2, 3 4 3 4 3, 5, its return (3). total([5]): 2, 3 4 3, 5, its
	// return (5); then the assert fails. Returns are recorded steps, not executed lines.
	lines := []int{1, 2, 3, 4, 3, 4, 3, 5, 5, 2, 3, 4, 3, 5, 5}
	returns := map[int]string{8: "3", 14: "5"}
	if len(r.Trace) != len(lines) || r.TraceSteps != len(lines)-2 || r.StepsCorrect != len(lines)-2 {
		t.Fatalf("trace of %d steps (count %d, correct %d), want %d: %+v", len(r.Trace), r.TraceSteps, r.StepsCorrect, len(lines), r.Trace)
	}
	for i, l := range lines {
		if r.Trace[i].Pos != l {
			t.Fatalf("step %d at line %d, want %d", i, r.Trace[i].Pos, l)
		}
		if v, ok := returns[i]; ok && (r.Trace[i].Locals["<return>"] != v || len(r.Trace[i].Locals) != 1) {
			t.Errorf("step %d: %v, want the return of %s", i, r.Trace[i].Locals, v)
		}
	}
	want := map[int]map[string]string{
		3:  {"xs": "[1, 2]", "s": "0", "x": "1"}, // about to run s += x, first iteration
		5:  {"xs": "[1, 2]", "s": "1", "x": "2"}, // second iteration
		7:  {"xs": "[1, 2]", "s": "3", "x": "2"}, // return s
		13: {"xs": "[5]", "s": "5", "x": "5"},    // return s of the second call
	}
	for i, w := range want {
		for k, v := range w {
			if got := r.Trace[i].Locals[k]; got != v {
				t.Errorf("step %d: %s = %q, want %q (locals %v)", i, k, got, v, r.Trace[i].Locals)
			}
		}
	}
}

// Tests that pass the program something the strict serialiser cannot carry (here a lambda) run
// inside the candidate's process, and the result says so; StrictVerdicts refuses them instead.
func TestPythonForgeableFallback(t *testing.T) {
	src := "def apply(f, x):\n    return f(x)\n"
	tests := []Test{{Code: "assert apply(lambda v: v * 2, 4) == 8"}}
	r := runPy(t, src, tests, Options{})
	expect(t, r, PassedTest, "")
	if !r.Forgeable {
		t.Error("a test run inside the candidate's process is not marked forgeable")
	}
	r = runPy(t, src, tests, Options{StrictVerdicts: true})
	expect(t, r, RuntimeError, "strict")
	// The test's own `except Exception` does not hide that the call could not be judged outside.
	r = runPy(t, src, []Test{{Code: "try:\n    assert apply(lambda v: v * 2, 4) == 9\nexcept Exception:\n    pass\n"}}, Options{})
	expect(t, r, PassedTest, "")
	if !r.Forgeable {
		t.Error("a swallowed refusal was judged as if outside the candidate's process")
	}
	// Builtin values, including the program's own functions passed back by name, stay judged.
	r = runPy(t, "def twice(f, x):\n    return f(f(x))\ndef inc(x):\n    return x + 1\n", []Test{{Code: "assert twice(inc, 1) == 3\nassert twice(inc, (1)) != 4"}}, Options{})
	expect(t, r, PassedTest, "")
	if r.Forgeable {
		t.Error("passing a program function by name made the verdict forgeable")
	}
}

// Without namespaces (PoolConfig.NoNamespaces, or a kernel that refuses them) the pool still runs,
// says so in its Isolation notes, and its verdicts still come from the judge; the system-call
// filter still refuses network sockets, and daemons are still killed after the run.
func TestPoolWithoutNamespaces(t *testing.T) {
	p, err := NewPool(PoolConfig{Workers: 1, NoNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	iso := p.Isolation()
	if iso.NetNS || iso.PidNS || len(iso.Allowlist) > 0 || !iso.Seccomp || !strings.Contains(strings.Join(iso.Notes, " "), "NO NAMESPACES") {
		t.Errorf("isolation report: %+v", iso)
	}
	// Without a user namespace, RLIMIT_NPROC counts all of the user's processes.
	opts := Options{Timeout: 2 * time.Second}
	if os.Geteuid() != 0 {
		opts.MaxProcs = 1 << 16
	}
	run := func(src string, tests []Test) Result {
		r, err := p.Run(context.Background(), Program{Lang: Python, Source: src}, tests, opts)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	expect(t, run("def add(a, b):\n    return a + b\n", forgeTests), PassedTest, "")
	expect(t, run("class E:\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return E()\n", forgeTests), RuntimeError, "only builtin types")
	r := run("import os, socket, time\ntry:\n    socket.socket(socket.AF_INET); print('inet')\nexcept OSError:\n    pass\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(100)\n", nil)
	expect(t, r, PassedTest, "")
	if r.Stdout != "" {
		t.Errorf("stdout %q: the filter let an AF_INET socket through", r.Stdout)
	}
	if left := leftovers(p); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}

package reward

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/execfeed/execfeed/sandbox"
)

func TestBuiltins(t *testing.T) {
	tests := []struct {
		o              sandbox.Outcome
		outcome, synth float64
	}{
		{sandbox.PassedTest, 1, 1},
		{sandbox.FailedTest, -0.3, 1},
		{sandbox.RuntimeError, -0.6, 1},
		{sandbox.Timeout, -0.6, 1},
		{sandbox.CompileError, -1, -1},
	}
	for _, tc := range tests {
		s := Sample{Outcome: tc.o}
		if got := Outcome(s); got != tc.outcome {
			t.Errorf("Outcome(%v) = %v, want %v (eq. 4.6)", tc.o, got, tc.outcome)
		}
		if got := Syntax(s); got != tc.synth {
			t.Errorf("Syntax(%v) = %v, want %v (eq. 4.7)", tc.o, got, tc.synth)
		}
	}
	if got := PassRate(Sample{Passed: 3, Total: 4}); got != 0.75 {
		t.Errorf("PassRate = %v, want 0.75", got)
	}
	if got := PassRate(Sample{}); got != 0 {
		t.Errorf("PassRate of no tests = %v, want 0", got)
	}
	f := Sum([]float64{1, 0.5}, Outcome, PassRate)
	if got := f(Sample{Outcome: sandbox.FailedTest, Passed: 1, Total: 2}); math.Abs(got-(-0.3+0.25)) > 1e-12 {
		t.Errorf("Sum = %v", got)
	}
	for _, n := range []string{"outcome", "syntax", "passrate"} {
		if _, ok := Builtin(n); !ok {
			t.Errorf("Builtin(%q) missing", n)
		}
	}
}

// outcomeScript is eq. (4.6) written as a script, the way a user would.
const outcomeScript = `package main

import (
	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/sandbox"
)

func Reward(s reward.Sample) float64 {
	switch s.Outcome {
	case sandbox.PassedTest:
		return 1
	case sandbox.FailedTest:
		return -0.3
	case sandbox.RuntimeError, sandbox.Timeout:
		return -0.6
	}
	return -1
}
`

func samples() []Sample {
	var out []Sample
	progs := []string{"a b +", "a b + c *", "a +", "1 0 /", "b a + c *"}
	for i := 0; i < 50; i++ {
		p := progs[i%len(progs)]
		out = append(out, Sample{
			Task: "rpn", Description: "add a and b", Program: p, Tokens: strings.Fields(p),
			Reference: "a b + c *", ReferenceTokens: strings.Fields("a b + c *"),
			Outcome: sandbox.Outcome(i % 5), Passed: i % 4, Total: 3, StepsCorrect: i % 3, DivergencePos: -1,
		})
	}
	return out
}

func TestScriptMatchesBuiltinOutcome(t *testing.T) {
	s, err := Load("outcome.go", outcomeScript, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range samples() {
		got, err := s.Call(x)
		if err != nil {
			t.Fatal(err)
		}
		if want := Outcome(x); got != want {
			t.Fatalf("scripted outcome reward %v != built-in %v for %v", got, want, x.Outcome)
		}
	}
	// The script may also call the API and use std packages.
	s2, err := Load("api.go", `package bonus
import (
	"math"
	"strings"
	"github.com/execfeed/execfeed/lib/reward"
)
func Reward(s reward.Sample) float64 {
	n := 0
	for _, t := range s.Tokens { if strings.Contains("+-*", t) { n++ } }
	return reward.Outcome(s) + 0.1*math.Sqrt(float64(n)) + 0*reward.PassRate(s)
}`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	f := s2.Func()
	if got := f(Sample{Outcome: sandbox.PassedTest, Tokens: []string{"a", "b", "+", "c", "*"}}); got < 1.1414 || got > 1.1415 {
		t.Errorf("api script = %v, want 1+0.1*sqrt(2)", got)
	}
}

func scriptErr(t *testing.T, err error, kind string, line int) {
	t.Helper()
	var se *ScriptError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *ScriptError", err, err)
	}
	if se.Kind != kind {
		t.Errorf("kind %q, want %q: %v", se.Kind, kind, err)
	}
	if line > 0 && se.Line != line {
		t.Errorf("line %d, want %d: %v", se.Line, line, err)
	}
	if !strings.Contains(err.Error(), se.Script) {
		t.Errorf("error %q does not name the script", err)
	}
	t.Logf("%v", err)
}

func TestScriptRefused(t *testing.T) {
	for _, tc := range []struct{ name, src string }{
		{"exec", "package main\nimport \"os/exec\"\nfunc Reward(s any) float64 { exec.Command(\"ls\"); return 0 }"},
		{"os", "package main\nimport \"os\"\nfunc Reward(s any) float64 { os.Exit(1); return 0 }"},
		{"unsafe", "package main\nimport \"unsafe\"\nfunc Reward(s any) float64 { return float64(unsafe.Sizeof(1)) }"},
		{"syscall", "package main\nimport \"syscall\"\nfunc Reward(s any) float64 { return 0 }"},
		{"reflect", "package main\nimport \"reflect\"\nfunc Reward(s any) float64 { return 0 }"},
		{"net", "package main\nimport \"net/http\"\nfunc Reward(s any) float64 { return 0 }"},
		{"goroutine", "package main\nfunc Reward(s any) float64 {\n go func(){}(); return 0 }"},
		{"chan", "package main\nfunc Reward(s any) float64 {\n var c chan int; <-c; return 0 }"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.name+".go", tc.src, Limits{})
			line := 2
			if tc.name == "goroutine" || tc.name == "chan" {
				line = 3
			}
			scriptErr(t, err, "refused", line)
		})
	}
	_, err := Load("nofunc.go", "package main\nfunc Score() float64 { return 1 }\n", Limits{})
	scriptErr(t, err, "compile", 0)
	_, err = Load("typo.go", "package main\n\nfunc Reward(s reward.Sample) float64 { return x }\n", Limits{})
	scriptErr(t, err, "compile", 0)
}

func TestScriptStopped(t *testing.T) {
	lim := Limits{Timeout: 200 * time.Millisecond, Grace: 500 * time.Millisecond, MaxAllocBytes: 64 << 20}
	for _, tc := range []struct {
		name, body string
		kind       string
		line       int
	}{
		{"loop", "\tfor {\n\t}\n", "timeout", 5},
		{"panic", "\tvar xs []int\n\treturn float64(xs[3])\n", "panic", 4},
		{"explicit_panic", "\tif s.Total == 0 {\n\t\tpanic(\"no tests\")\n\t}\n", "panic", 4},
		{"make", "\tb := make([]byte, 1<<40)\n\treturn float64(len(b))\n", "memory", 5},
		{"makemap", "\tm := make(map[int]int, 1<<40)\n\treturn float64(len(m))\n", "memory", 5},
		{"repeat", "\treturn float64(len(strings.Repeat(\"x\", 1<<40)))\n", "memory", 4},
		{"append", "\tvar xs []int64\n\tfor {\n\t\txs = append(xs, make([]int64, 1000)...)\n\t}\n", "memory", 6},
		{"concat", "\tx := \"ab\"\n\tfor {\n\t\tx += x\n\t}\n", "memory", 6},
		{"recursion", "\treturn Reward(s)\n", "depth", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "package main\nimport (\"strings\"; \"github.com/execfeed/execfeed/lib/reward\")\nvar _ = strings.Repeat\nfunc Reward(s reward.Sample) float64 {\n" + tc.body + "\treturn 0\n}\n"
			l := lim
			if tc.kind != "timeout" {
				// Stops other than the clock must come from their own guard, however slow the
				// machine (or the race detector) is.
				l.Timeout, l.Grace = 20*time.Second, 20*time.Second
			}
			s, err := Load(tc.name+".go", src, l)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = s.Call(Sample{})
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("stopping took %v", d)
			}
			scriptErr(t, err, tc.kind, tc.line)
			// The host keeps going: the same script can be called again, and a good script still works.
			if _, err := s.Call(Sample{}); err == nil && tc.name != "explicit_panic" {
				t.Errorf("second call of a hostile script succeeded")
			}
		})
	}
	if s, err := Load("ok.go", outcomeScript, lim); err != nil {
		t.Fatal(err)
	} else if v, err := s.Call(Sample{Outcome: sandbox.PassedTest}); err != nil || v != 1 {
		t.Fatalf("good script after hostile ones: %v, %v", v, err)
	}
}

// TestScriptMemoryFlat checks that memory does not grow with the number of calls: one
// interpreter serves every call.
func TestScriptMemoryFlat(t *testing.T) {
	s, err := Load("outcome.go", outcomeScript, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	xs := samples()
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	call := func(n int) {
		for i := range n {
			if _, err := s.Call(xs[i%len(xs)]); err != nil {
				t.Fatal(err)
			}
		}
	}
	call(2000) // warm up
	before := heap()
	call(20000)
	after := heap()
	if after > before+2<<20 {
		t.Errorf("heap grew from %d to %d KiB over 20,000 calls", before>>10, after>>10)
	}
	if s.Loads() != 1 {
		t.Errorf("%d interpreters used, want 1", s.Loads())
	}
	t.Logf("heap %d -> %d KiB over 20,000 calls", before>>10, after>>10)
}

func BenchmarkRewardCompiled(b *testing.B) {
	xs := samples()
	var sum float64
	for i := 0; b.Loop(); i++ {
		sum += Outcome(xs[i%len(xs)])
	}
	_ = sum
}

func BenchmarkRewardScripted(b *testing.B) {
	s, err := Load("outcome.go", outcomeScript, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	xs := samples()
	var sum float64
	for i := 0; b.Loop(); i++ {
		v, err := s.Call(xs[i%len(xs)])
		if err != nil {
			b.Fatal(err)
		}
		sum += v
	}
	_ = sum
}

// TestScriptAbandoned: a call stuck where no guard runs (here, inside the interpreted generic
// slices.Index over a large slice) is abandoned after Timeout+Grace and the next call gets a
// fresh interpreter.
func TestScriptAbandoned(t *testing.T) {
	src := `package main
import ("slices"; "github.com/execfeed/execfeed/lib/reward")
// Allocated when the script loads, so the timed call starts straight in the guard-free search
// (allocating it inside the call could itself outlast the budget on a loaded machine, and the
// loop's guard would then stop the call before it ever got stuck).
var b = make([]byte, 1<<25)

func Reward(s reward.Sample) float64 {
	if s.Total == 0 {
		return 2
	}
	for i := 0; i < 100; i++ {
		slices.Index(b, byte(1))
	}
	return 1
}`
	s, err := Load("stuck.go", src, Limits{Timeout: 50 * time.Millisecond, Grace: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Call(Sample{Total: 1})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("abandoning took %v", d)
	}
	scriptErr(t, err, "timeout", 0)
	if !strings.Contains(err.Error(), "abandoned") {
		t.Errorf("error does not say the call was abandoned: %v", err)
	}
	if v, err := s.Call(Sample{}); err != nil || v != 2 {
		t.Fatalf("call after abandoning = %v, %v; want 2", v, err)
	}
	if s.Loads() != 2 {
		t.Errorf("Loads = %d, want 2", s.Loads())
	}
}

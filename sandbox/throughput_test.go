//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchProblems generates n HumanEval-format problems with one correct and one incorrect
// completion each (wrong answers and exceptions, no timeouts: they would only measure the clock).
func benchProblems(n int) ([]Problem, []Sample) {
	var probs []Problem
	var samples []Sample
	for i := range n {
		id := fmt.Sprintf("Bench/%d", i)
		var prompt, good, bad, test string
		a, b := i%7+2, i%5+1
		switch i % 4 {
		case 0:
			prompt = fmt.Sprintf("def f%d(x: int) -> int:\n    \"\"\"Return %d*x + %d.\"\"\"\n", i, a, b)
			good = fmt.Sprintf("    return %d * x + %d\n", a, b)
			bad = fmt.Sprintf("    return %d * x - %d\n", a, b)
			test = fmt.Sprintf("def check(candidate):\n    assert candidate(0) == %d\n    assert candidate(3) == %d\n    assert candidate(-2) == %d\n", b, 3*a+b, -2*a+b)
		case 1:
			prompt = fmt.Sprintf("from typing import List\n\ndef f%d(xs: List[int]) -> List[int]:\n    \"\"\"Keep the multiples of %d, sorted.\"\"\"\n", i, a)
			good = fmt.Sprintf("    return sorted(x for x in xs if x %% %d == 0)\n", a)
			bad = fmt.Sprintf("    return [x for x in xs if x %% %d == 0]\n", a)
			test = fmt.Sprintf("def check(candidate):\n    assert candidate([%d, 1, 0, %d]) == [0, %d, %d]\n    assert candidate([]) == []\n", 3*a, a, a, 3*a)
		case 2:
			prompt = fmt.Sprintf("def f%d(s: str) -> str:\n    \"\"\"Repeat s %d times, reversed.\"\"\"\n", i, b)
			good = fmt.Sprintf("    return (s * %d)[::-1]\n", b)
			bad = fmt.Sprintf("    return s[%d]\n", b+5) // IndexError on short strings
			test = fmt.Sprintf("def check(candidate):\n    assert candidate('ab') == %q\n    assert candidate('') == ''\n", reverse(repeat("ab", b)))
		case 3:
			prompt = fmt.Sprintf("import math\n\ndef f%d(n: int) -> int:\n    \"\"\"Number of primes below n, plus %d.\"\"\"\n", i, b)
			good = fmt.Sprintf("    return sum(1 for k in range(2, n) if all(k %% d for d in range(2, math.isqrt(k) + 1))) + %d\n", b)
			bad = fmt.Sprintf("    return n // 2 + %d\n", b)
			test = fmt.Sprintf("def check(candidate):\n    assert candidate(30) == %d\n    assert candidate(2) == %d\n", 10+b, b)
		}
		p := Problem{TaskID: id, Format: HumanEval, Prompt: prompt, EntryPoint: fmt.Sprintf("f%d", i),
			Tests: []Test{{Name: "check", Code: test + fmt.Sprintf("check(f%d)\n", i)}}}
		probs = append(probs, p)
		samples = append(samples, Sample{TaskID: id, Completion: good, Where: "bench"}, Sample{TaskID: id, Completion: bad, Where: "bench"})
	}
	return probs, samples
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// freshProcess runs each sample as the reference harness's program (prompt + completion + test +
// check(entry_point)) in a new interpreter: passed iff it exits 0 within the timeout.
func freshProcess(python string, probs []Problem, samples []Sample, parallel int, timeout time.Duration, dir string) ([]bool, error) {
	byID := map[string]*Problem{}
	for i := range probs {
		byID[probs[i].TaskID] = &probs[i]
	}
	out := make([]bool, len(samples))
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(samples) {
					return
				}
				p := byID[samples[i].TaskID]
				path := filepath.Join(dir, fmt.Sprintf("s%d.py", i))
				src := p.Prompt + samples[i].Completion + "\n" + p.Tests[0].Code
				if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				err := exec.CommandContext(ctx, python, path).Run()
				cancel()
				out[i] = err == nil
				os.Remove(path)
			}
		})
	}
	wg.Wait()
	return out, firstErr
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range splitLines(string(b)) {
		if len(line) > 10 && line[:10] == "model name" {
			for i := range line {
				if line[i] == ':' {
					return line[i+2:]
				}
			}
		}
	}
	return "unknown"
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range s {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// TestThroughputReport measures programs per second of the pool (1 and 2 workers) against a
// fresh interpreter per sample (1 and 2 at a time), checking identical verdicts. It takes about a
// minute, so it runs only with EXECFEED_THROUGHPUT=1:
//
//	EXECFEED_THROUGHPUT=1 go test ./sandbox -run TestThroughputReport -v
func TestThroughputReport(t *testing.T) {
	if os.Getenv("EXECFEED_THROUGHPUT") == "" {
		t.Skip("set EXECFEED_THROUGHPUT=1 to measure sandbox throughput")
	}
	probs, samples := benchProblems(300)
	python, version, err := ResolvePython("")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d problems, %d samples; python %s (%s); CPU %s, %d cores", len(probs), len(samples), version, python, cpuModel(), runtime.NumCPU())
	var ref []bool
	rates := map[string]float64{}
	for _, workers := range []int{1, 2} {
		p, err := NewPool(PoolConfig{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := Evaluate(context.Background(), p, probs, samples, EvalConfig{Options: Options{Timeout: 3 * time.Second}, Parallel: workers})
		el := time.Since(start)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := make([]bool, len(res))
		passed := 0
		for i, r := range res {
			got[i] = r.Passed
			if r.Passed {
				passed++
			}
		}
		if passed != len(probs) {
			t.Errorf("%d samples passed, want exactly the %d correct ones", passed, len(probs))
		}
		if ref == nil {
			ref = got
		}
		for i := range got {
			if got[i] != ref[i] {
				t.Fatalf("sample %d: verdict differs between pool sizes", i)
			}
		}
		rates[fmt.Sprintf("pool-%d", workers)] = float64(len(samples)) / el.Seconds()
		t.Logf("pool, %d worker(s): %d samples in %v = %.1f programs/s", workers, len(samples), el.Round(time.Millisecond), rates[fmt.Sprintf("pool-%d", workers)])
	}
	for _, par := range []int{1, 2} {
		dir := t.TempDir()
		start := time.Now()
		got, err := freshProcess(python, probs, samples, par, 3*time.Second, dir)
		el := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != ref[i] {
				t.Errorf("sample %d (%s): fresh process says passed=%v, pool %v", i, samples[i].TaskID, got[i], ref[i])
			}
		}
		rates[fmt.Sprintf("fresh-%d", par)] = float64(len(samples)) / el.Seconds()
		t.Logf("fresh python3 per sample, %d at a time: %d samples in %v = %.1f programs/s", par, len(samples), el.Round(time.Millisecond), rates[fmt.Sprintf("fresh-%d", par)])
	}
	for _, n := range []int{1, 2} {
		t.Logf("speed-up at %d: %.1fx", n, rates[fmt.Sprintf("pool-%d", n)]/rates[fmt.Sprintf("fresh-%d", n)])
	}
}

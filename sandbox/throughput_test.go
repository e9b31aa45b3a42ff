//go:build linux

package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The throughput benchmark: testdata/bench_humaneval.jsonl holds twelve problems in HumanEval's
// format and style (multi-assert check functions, METADATA, float tolerances, tuples), and
// testdata/bench_samples.jsonl 394 completions of them: canonical, wrong, raising, slow-but-right,
// syntax errors and two infinite loops. Three runners check the same samples, 2 at a time:
//
//   - the pool (the sandbox, every protection on);
//   - a bare fork-per-sample runner with no isolation at all (a Python parent with the same modules
//     preloaded forks, the child execs program and tests and writes one byte, exits): the ceiling
//     for one fresh process per sample;
//   - the reference harness's way: a fresh interpreter per sample.
//
// Verdicts must agree. The runners take turns on slices of the samples (see below). It takes
// about half a minute, so it runs only with EXECFEED_THROUGHPUT=1:
//
//	EXECFEED_THROUGHPUT=1 go test ./sandbox -run TestThroughputReport -v
func TestThroughputReport(t *testing.T) {
	if os.Getenv("EXECFEED_THROUGHPUT") == "" {
		t.Skip("set EXECFEED_THROUGHPUT=1 to measure sandbox throughput")
	}
	probs, samples := benchSamples(t)
	python, version, err := ResolvePython(os.Getenv("EXECFEED_PYTHON"))
	if err != nil {
		t.Fatal(err)
	}
	const par = 2
	timeout := 3 * time.Second // the reference harness's; a loaded machine makes fresh interpreters slow
	t.Logf("%d problems, %d samples, %d at a time, timeout %v; python %s (%s); CPU %s, %d cores", len(probs), len(samples), par, timeout, version, python, cpuModel(), runtime.NumCPU())

	p, err := NewPool(PoolConfig{Workers: par, Python: python})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t.Logf("isolation: %+v", p.Isolation())
	// The machine is shared: the three runners take turns on eight slices of the samples, so that
	// a change of load hits them alike; each runner's time is the sum over its slices. The looping
	// samples come last, in a slice of their own: they cost every runner the timeout, and the
	// rates are reported with and without them.
	sort.SliceStable(samples, func(i, j int) bool {
		return !strings.Contains(samples[i].Completion, "while True") && strings.Contains(samples[j].Completion, "while True")
	})
	loopers := 0
	for _, s := range samples {
		if strings.Contains(s.Completion, "while True") {
			loopers++
		}
	}
	var poolTime, bareTime, freshTime, poolLoop, bareLoop, freshLoop time.Duration
	var poolCPU, bareCPU, freshCPU, judgeCPU, zygoteCPU, childCPU, goCPU float64 // seconds, non-looping slices
	pool, bare, fresh := make([]bool, len(samples)), make([]bool, len(samples)), make([]bool, len(samples))
	outcomes := map[Outcome]int{}
	const slices = 8
	for k := range slices + 1 {
		lo, hi := k*(len(samples)-loopers)/slices, (k+1)*(len(samples)-loopers)/slices
		if k == slices {
			lo, hi = len(samples)-loopers, len(samples)
			poolLoop, bareLoop, freshLoop = poolTime, bareTime, freshTime
		}
		part := samples[lo:hi]
		for turn := range 3 {
			switch (turn + k) % 3 {
			case 0:
				g0, j0, z0, c0 := selfCPU(), 0.0, 0.0, 0.0
				for _, s := range p.slots {
					j, z, c := workerCPU(s)
					j0, z0, c0 = j0+j, z0+z, c0+c
				}
				start := time.Now()
				res, err := Evaluate(context.Background(), p, probs, part, EvalConfig{Options: Options{Timeout: timeout}, Parallel: par})
				poolTime += time.Since(start)
				if k < slices {
					g1, j1, z1, c1 := selfCPU(), 0.0, 0.0, 0.0
					for _, s := range p.slots {
						j, z, c := workerCPU(s)
						j1, z1, c1 = j1+j, z1+z, c1+c
					}
					goCPU, judgeCPU, zygoteCPU, childCPU = goCPU+g1-g0, judgeCPU+j1-j0, zygoteCPU+z1-z0, childCPU+c1-c0
					poolCPU += g1 - g0 + j1 - j0 + z1 - z0 + c1 - c0
				}
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range res {
					pool[lo+i] = r.Passed
					outcomes[r.Outcome]++
					if r.Run.Forgeable {
						t.Errorf("sample %d: verdict forgeable", lo+i)
					}
				}
			case 1:
				c0 := childrenCPU()
				got, d, err := bareFork(python, probs, part, par, timeout)
				if k < slices {
					bareCPU += childrenCPU() - c0
				}
				if err != nil {
					t.Fatal(err)
				}
				bareTime += d
				copy(bare[lo:], got)
			case 2:
				c0 := childrenCPU()
				start := time.Now()
				got, err := freshProcess(python, probs, part, par, timeout, t.TempDir())
				freshTime += time.Since(start)
				if k < slices {
					freshCPU += childrenCPU() - c0
				}
				if err != nil {
					t.Fatal(err)
				}
				copy(fresh[lo:], got)
			}
		}
	}
	t.Logf("pool outcomes: %v; pool stats %+v", outcomes, p.Stats())
	for i := range samples {
		if pool[i] != fresh[i] || bare[i] != fresh[i] {
			t.Errorf("sample %d (%s): passed: pool %v, bare fork %v, fresh interpreter %v\n%s", i, samples[i].TaskID, pool[i], bare[i], fresh[i], samples[i].Completion)
		}
	}
	report := func(what string, n int, pool, bare, fresh time.Duration) {
		rate := func(d time.Duration) float64 { return float64(n) / d.Seconds() }
		t.Logf("%s (%d samples):", what, n)
		t.Logf("  pool (sandbox):               %v = %6.1f samples/s", pool.Round(time.Millisecond), rate(pool))
		t.Logf("  bare fork, no isolation:      %v = %6.1f samples/s (pool takes %.2fx its time)", bare.Round(time.Millisecond), rate(bare), pool.Seconds()/bare.Seconds())
		t.Logf("  fresh interpreter per sample: %v = %6.1f samples/s (pool is %.1fx faster)", fresh.Round(time.Millisecond), rate(fresh), fresh.Seconds()/pool.Seconds())
	}
	report("all samples", len(samples), poolTime, bareTime, freshTime)
	report("without the looping samples", len(samples)-loopers, poolLoop, bareLoop, freshLoop)
	n := float64(len(samples) - loopers)
	ms := func(sec float64) float64 { return sec * 1000 / n }
	t.Logf("CPU per sample without the loops (ms): pool %.2f (Go %.2f, judge %.2f, zygote %.2f, children %.2f); bare fork %.2f; fresh interpreter %.2f",
		ms(poolCPU), ms(goCPU), ms(judgeCPU), ms(zygoteCPU), ms(childCPU), ms(bareCPU), ms(freshCPU))
}

// selfCPU is this process's CPU time in seconds; childrenCPU that of its waited-for children.
func selfCPU() float64     { return rusageSeconds(syscall.RUSAGE_SELF) }
func childrenCPU() float64 { return rusageSeconds(syscall.RUSAGE_CHILDREN) }

func rusageSeconds(who int) float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// workerCPU is the CPU time in seconds of a worker's judge, its zygote, and the children the
// zygote has reaped (from /proc/PID/stat).
func workerCPU(s *slot) (judge, zygote, children float64) {
	if s.w == nil {
		return
	}
	stat := func(pid int) (self, reaped float64) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		v := func(i int) float64 { x, _ := strconv.ParseFloat(f[i], 64); return x / 100 } // clock ticks
		return v(11) + v(12), v(13) + v(14)
	}
	w := s.w.cmd.Process.Pid
	judge, _ = stat(w)
	for _, z := range childrenOf(w) {
		zs, zc := stat(z)
		zygote, children = zygote+zs, children+zc
	}
	return
}

func benchSamples(t *testing.T) ([]Problem, []Sample) {
	probs, err := LoadProblems(filepath.Join("testdata", "bench_humaneval.jsonl"), HumanEval)
	if err != nil {
		t.Fatal(err)
	}
	samples, err := LoadSamples(filepath.Join("testdata", "bench_samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return probs, samples
}

// referenceProgram is what the reference harness runs for a sample.
func referenceProgram(p *Problem, completion string) string {
	return p.Prompt + completion + "\n" + p.Tests[0].Code
}

// bareForkScript runs programs given as JSON lines on stdin, forking per program in `par` processes,
// and prints its own elapsed time (after start-up) and the verdicts.
const bareForkScript = `
import json, os, select, signal, sys, time
import bisect, collections, copy, dataclasses, datetime, decimal, fractions, functools
import hashlib, heapq, itertools, math, operator, random, re, statistics, string, typing
import array, cmath, enum, numbers, queue, textwrap, unicodedata
par, timeout = int(sys.argv[1]), float(sys.argv[2])
progs = [json.loads(l) for l in sys.stdin]
def run(src):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            exec(compile(src, "<program>", "exec"), {"__name__": "__main__"})
            os.write(w, b"1")
        except BaseException:
            pass
        os._exit(0)
    os.close(w)
    ok = False
    if select.select([r], [], [], timeout)[0]:
        ok = os.read(r, 1) == b"1"
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(r)
    return ok
t0 = time.monotonic()
outs = []
for k in range(par):
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        res = {i: run(progs[i]) for i in range(k, len(progs), par)}
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    outs.append(r)
verdicts = {}
for r in outs:
    data = b""
    while True:
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        data += chunk
    verdicts.update(json.loads(data))
for _ in outs:
    os.wait()  # so that the runners' CPU time reaches the caller's rusage
print(time.monotonic() - t0)
print(json.dumps([verdicts[str(i)] for i in range(len(progs))]))
`

func bareFork(python string, probs []Problem, samples []Sample, par int, timeout time.Duration) ([]bool, time.Duration, error) {
	byID := map[string]*Problem{}
	for i := range probs {
		byID[probs[i].TaskID] = &probs[i]
	}
	var in strings.Builder
	for _, s := range samples {
		b, _ := json.Marshal(referenceProgram(byID[s.TaskID], s.Completion))
		in.Write(b)
		in.WriteByte('\n')
	}
	cmd := exec.Command(python, "-c", bareForkScript, fmt.Sprint(par), fmt.Sprint(timeout.Seconds()))
	cmd.Stdin = strings.NewReader(in.String())
	cmd.Dir = os.TempDir()
	out, err := cmd.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("bare fork runner: %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<24)
	var secs float64
	var verdicts []bool
	if !sc.Scan() {
		return nil, 0, fmt.Errorf("bare fork runner: no output")
	}
	if _, err := fmt.Sscan(sc.Text(), &secs); err != nil {
		return nil, 0, err
	}
	if !sc.Scan() {
		return nil, 0, fmt.Errorf("bare fork runner: no verdicts")
	}
	if err := json.Unmarshal(sc.Bytes(), &verdicts); err != nil {
		return nil, 0, err
	}
	return verdicts, time.Duration(secs * float64(time.Second)), nil
}

// freshProcess runs each sample as the reference harness does (prompt + completion + test +
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
				path := filepath.Join(dir, fmt.Sprintf("s%d.py", i))
				if err := os.WriteFile(path, []byte(referenceProgram(byID[samples[i].TaskID], samples[i].Completion)), 0o600); err != nil {
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
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// Verdicts agree with the reference harness (a fresh interpreter running prompt + completion + test)
// on the project's HumanEval-format test problems: correct, wrong, raising, syntax-error and
// looping candidates.
func TestHumanEvalAgreesWithReference(t *testing.T) {
	python, _, err := ResolvePython("")
	if err != nil {
		t.Fatal(err)
	}
	probs, err := LoadProblems(filepath.Join("testdata", "humaneval.jsonl"), HumanEval)
	if err != nil {
		t.Fatal(err)
	}
	var samples []Sample
	for _, p := range probs {
		sol := strings.TrimPrefix(p.Reference, p.Prompt)
		for _, c := range []string{sol, "    return None\n", "    raise ValueError('no')\n", "    return (\n", "    while True:\n        pass\n"} {
			samples = append(samples, Sample{TaskID: p.TaskID, Completion: c})
		}
	}
	timeout := 800 * time.Millisecond
	res, err := Evaluate(context.Background(), pool(t), probs, samples, EvalConfig{Options: Options{Timeout: timeout}, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := freshProcess(python, probs, samples, 2, 1500*time.Millisecond, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if want := i%5 == 0; ref[i] != want {
			t.Errorf("sample %d: the reference harness says passed=%v", i, ref[i])
		}
		if r.Passed != ref[i] || r.Run.Forgeable {
			t.Errorf("sample %d (%q): pool %v (%s, forgeable %v), reference passed=%v", i, samples[i].Completion, r.Outcome, r.Result, r.Run.Forgeable, ref[i])
		}
	}
}

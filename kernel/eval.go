package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/execfeed/execfeed/lib/passk"
	"github.com/execfeed/execfeed/sandbox"
)

func init() {
	register(command{name: "eval", summary: "run samples against HumanEval/MBPP/APPS problems in the sandbox; pass@k", run: runEval})
}

// runEval implements `kernel eval`: it loads problems and samples, runs every sample in the Python
// sandbox, writes the results JSONL (the reference HumanEval harness's *_results.jsonl format) and
// prints pass@k.
func runEval(args []string) error {
	c := newCLI("eval")
	problemsPath := c.string("problems", "", nil, "problem file (JSONL, .gz accepted)")
	samplesPath := c.string("samples", "", nil, "samples file: JSONL of {task_id, completion}")
	format := c.string("format", "humaneval", []string{"humaneval", "mbpp", "apps"}, "problem format")
	ks := c.list("k", []string{"1", "10", "100"}, nil, "comma-separated k for pass@k")
	workers := c.int("workers", 2, 1, "sandbox worker processes (not with -exec)")
	execURLs := c.string("exec", "", nil, "URL[,URL...] of execution servers (kernel serve, or SandboxFusion as sf+http://...) to run samples on instead of local workers; bearer token from $"+sandbox.TokenEnv)
	timeout := c.duration("timeout", 3*time.Second, true, "wall-clock limit per sample (all its tests)")
	memory := c.int("memory-mb", 1024, 1, "address-space limit per sample, MiB")
	out := c.string("out", "", nil, "results file (default: SAMPLES_results.jsonl)")
	quiet := c.bool("quiet", "no progress line")
	strict := c.bool("strict-verdicts", "refuse tests that cannot be judged outside the candidate's process (RuntimeError instead of a forgeable verdict)")
	c.conflict("workers", "exec")
	if err := parseOrHelp(c, args, func(w io.Writer) {
		fmt.Fprintf(w, "usage: kernel eval -problems FILE -samples FILE [flags]\n\nRuns every sample against its problem's tests in the sandbox, writes the results JSONL and prints pass@k.\n\n")
		c.printDefaults(w)
	}); err != nil {
		return err
	}
	if *problemsPath == "" || *samplesPath == "" {
		return errors.New("-problems and -samples are required")
	}
	f, err := sandbox.ParseFormat(*format)
	if err != nil {
		return err
	}
	kList, err := parseKs(strings.Join(*ks, ","))
	if err != nil {
		return err
	}
	if *out == "" {
		*out = strings.TrimSuffix(strings.TrimSuffix(*samplesPath, ".gz"), ".jsonl") + "_results.jsonl"
	}
	problems, err := sandbox.LoadProblems(*problemsPath, f)
	if err != nil {
		return err
	}
	samples, err := sandbox.LoadSamples(*samplesPath)
	if err != nil {
		return err
	}
	ex, parallel, err := sandbox.OpenExecutor(*execURLs, sandbox.PoolConfig{Workers: *workers}, sandbox.RemoteConfig{})
	if err != nil {
		return err
	}
	defer ex.Close()
	if pool, ok := ex.(*sandbox.Pool); ok {
		iso := pool.Isolation()
		fmt.Fprintf(os.Stderr, "eval: %d problems, %d samples, python %s, %d workers, netns %v, userns %v, seccomp %v, allowlist %v, private uid %d\n",
			len(problems), len(samples), iso.Python, *workers, iso.NetNS, iso.UserNS, iso.Seccomp, iso.Allowlist, iso.PrivateUID)
		for _, n := range iso.Notes {
			fmt.Fprintln(os.Stderr, "eval: note:", n)
		}
	} else {
		fmt.Fprintf(os.Stderr, "eval: %d problems, %d samples, remote execution on %s, %d requests in flight\n",
			len(problems), len(samples), *execURLs, parallel)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	var mu sync.Mutex
	last := time.Time{}
	progress := func(done, total, passed int) {
		mu.Lock()
		defer mu.Unlock()
		if *quiet || done < total && time.Since(last) < 200*time.Millisecond {
			return
		}
		last = time.Now()
		el := time.Since(start).Seconds()
		const width = 30
		bar := strings.Repeat("=", done*width/max(total, 1)) + strings.Repeat(" ", width-done*width/max(total, 1))
		fmt.Fprintf(os.Stderr, "\r[%s] %d/%d samples  %.1f/s  passed %d", bar, done, total, float64(done)/max(el, 1e-9), passed)
		if done == total {
			fmt.Fprintln(os.Stderr)
		}
	}
	results, err := sandbox.Evaluate(ctx, ex, problems, samples, sandbox.EvalConfig{
		Options:  sandbox.Options{Timeout: *timeout, MemoryBytes: int64(*memory) << 20, StrictVerdicts: *strict},
		Parallel: parallel, Progress: progress,
	})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fo, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := sandbox.WriteResults(fo, results); err != nil {
		fo.Close()
		return err
	}
	if err := fo.Close(); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	printSummary(results, kList, elapsed)
	forgeable := 0
	for _, r := range results {
		if r.Run.Forgeable {
			forgeable++
		}
	}
	if forgeable > 0 {
		fmt.Fprintf(os.Stderr, "eval: %d verdicts forgeable (their tests ran inside the candidate's process; -strict-verdicts refuses them)\n", forgeable)
	}
	fmt.Fprintf(os.Stderr, "eval: results written to %s\n", *out)
	return nil
}

func parseKs(s string) ([]int, error) {
	var ks []int
	for _, part := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || k < 1 {
			return nil, fmt.Errorf("-k: %q is not a positive integer", part)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// printSummary prints outcome counts and the pass@k table.
func printSummary(results []sandbox.SampleResult, ks []int, elapsed time.Duration) {
	byOutcome := map[sandbox.Outcome]int{}
	for _, r := range results {
		byOutcome[r.Outcome]++
	}
	counts := sandbox.Counts(results)
	pc := make([]passk.Count, len(counts))
	minN := -1
	for i, c := range counts {
		pc[i] = passk.Count{N: c.Total, C: c.Passed}
		if minN < 0 || c.Total < minN {
			minN = c.Total
		}
	}
	fmt.Printf("\n%d samples over %d problems in %v (%.1f samples/s)\n\n", len(results), len(counts), elapsed.Round(time.Millisecond), float64(len(results))/elapsed.Seconds())
	fmt.Printf("%-14s %8s %7s\n", "outcome", "samples", "share")
	for _, o := range []sandbox.Outcome{sandbox.PassedTest, sandbox.FailedTest, sandbox.RuntimeError, sandbox.Timeout, sandbox.CompileError} {
		fmt.Printf("%-14s %8d %6.1f%%\n", o, byOutcome[o], 100*float64(byOutcome[o])/float64(max(len(results), 1)))
	}
	fmt.Printf("\n%-8s %10s %24s\n", "k", "pass@k", "seed 004: 1-(1-c/n)^k")
	for _, r := range passk.Table(pc, ks) {
		if !r.OK {
			fmt.Printf("%-8s %10s %24.4f   (some problems have only %d samples)\n", "pass@"+strconv.Itoa(r.K), "n/a", r.Seed, minN)
			continue
		}
		fmt.Printf("%-8s %10.4f %24.4f\n", "pass@"+strconv.Itoa(r.K), r.Unbiased, r.Seed)
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

func init() {
	register(command{name: "notebooks", summary: "execute notebooks headless (jupyter nbconvert) and report failures", run: runNotebooksCmd})
}

// nbOptions configure headless notebook execution.
type nbOptions struct {
	CellTimeout time.Duration // per cell, passed to nbconvert's ExecutePreprocessor
	Parallel    int           // notebooks executed at the same time
	Quick       bool          // sets EXECFEED_QUICK=1 in the kernel's environment
	OutDir      string        // where executed notebooks are written ("" = a temporary dir, removed)
}

// nbProblem is one failure found in an executed notebook.
type nbProblem struct {
	Cell int    // index of the cell (0-based), -1 for the notebook as a whole
	Kind string // "error" (an error output), "stderr" (panic / exit status), "nbconvert"
	Text string
}

func (p nbProblem) String() string {
	if p.Cell < 0 {
		return fmt.Sprintf("%s: %s", p.Kind, p.Text)
	}
	return fmt.Sprintf("cell %d: %s: %s", p.Cell, p.Kind, p.Text)
}

// nbResult is what happened to one notebook.
type nbResult struct {
	Path     string
	Output   string // the executed notebook ("" if nbconvert wrote none)
	Duration time.Duration
	Problems []nbProblem
}

// Failed reports whether the notebook must be counted as failing.
func (r nbResult) Failed() bool { return len(r.Problems) > 0 }

// failRE matches what a failing Go cell leaves on stderr under GoNB: a panic, or the exit status
// of a program that called os.Exit(n) or failed a `!` shell line. nbconvert exits 0 for these.
var failRE = regexp.MustCompile(`(?m)^(panic: |exit status \d+)`)

// scanNotebook reads an executed notebook and lists its failures: every output of type
// "error", and every stderr stream output matching failRE.
func scanNotebook(data []byte) ([]nbProblem, error) {
	var nb struct {
		Cells []struct {
			Outputs []struct {
				OutputType string          `json:"output_type"`
				Name       string          `json:"name"`
				Text       json.RawMessage `json:"text"`
				Ename      string          `json:"ename"`
				Evalue     string          `json:"evalue"`
			} `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(data, &nb); err != nil {
		return nil, fmt.Errorf("not a notebook: %w", err)
	}
	var probs []nbProblem
	for i, c := range nb.Cells {
		for _, o := range c.Outputs {
			switch o.OutputType {
			case "error":
				probs = append(probs, nbProblem{i, "error", strings.TrimSpace(o.Ename + ": " + o.Evalue)})
			case "stream":
				if o.Name != "stderr" {
					continue
				}
				text := multiline(o.Text)
				if loc := failRE.FindStringIndex(text); loc != nil {
					line := text[loc[0]:]
					if j := strings.IndexByte(line, '\n'); j >= 0 {
						line = line[:j]
					}
					probs = append(probs, nbProblem{i, "stderr", line})
				}
			}
		}
	}
	return probs, nil
}

// multiline decodes a notebook text field: a string or a list of strings.
func multiline(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []string
	_ = json.Unmarshal(raw, &parts)
	return strings.Join(parts, "")
}

// checkJupyter reports whether headless execution can run here: jupyter on PATH and the gonb
// kernel registered.
func checkJupyter() error {
	j, err := exec.LookPath("jupyter")
	if err != nil {
		return fmt.Errorf("jupyter not found on PATH (%s)", jupyterAdvice)
	}
	if _, err := kernelSpecDir(j); err != nil {
		return err
	}
	return nil
}

// executeNotebook runs one notebook with nbconvert and scans the result.
func executeNotebook(ctx context.Context, path string, o nbOptions) (r nbResult) {
	start := time.Now()
	r.Path = path
	defer func() { r.Duration = time.Since(start) }()
	fail := func(format string, a ...any) nbResult {
		r.Problems = append(r.Problems, nbProblem{-1, "nbconvert", fmt.Sprintf(format, a...)})
		r.Duration = time.Since(start)
		return r
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fail("%v", err)
	}
	outDir := o.OutDir
	if outDir == "" {
		tmp, err := os.MkdirTemp("", "execfeed-nb-")
		if err != nil {
			return fail("%v", err)
		}
		defer os.RemoveAll(tmp)
		outDir = tmp
	} else if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fail("%v", err)
	}
	name := strings.TrimSuffix(filepath.Base(path), ".ipynb") + ".executed.ipynb"
	timeout := o.CellTimeout
	if timeout <= 0 {
		timeout = 20 * time.Minute
	}
	// --allow-errors: run every cell and keep error outputs, so the scan reports every failing
	// cell (and the executed notebook is written) instead of nbconvert stopping at the first.
	cmd := exec.CommandContext(ctx, "jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
		fmt.Sprintf("--ExecutePreprocessor.timeout=%d", int(timeout.Seconds())),
		"--ExecutePreprocessor.kernel_name="+kernelName,
		"--output-dir", outDir, "--output", name, abs)
	cmd.Dir = filepath.Dir(abs)
	cmd.Env = kernelProcessEnv()
	if o.Quick {
		cmd.Env = append(cmd.Env, "EXECFEED_QUICK=1")
	}
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.Problems = append(r.Problems, nbProblem{-1, "nbconvert", fmt.Sprintf("%v: %s", err, tail(string(out), 40))})
	}
	data, rerr := os.ReadFile(filepath.Join(outDir, name))
	if rerr != nil {
		if err == nil {
			return fail("no executed notebook written: %v\n%s", rerr, tail(string(out), 40))
		}
		return r
	}
	if o.OutDir != "" {
		r.Output = filepath.Join(outDir, name)
	}
	probs, serr := scanNotebook(data)
	if serr != nil {
		return fail("%v", serr)
	}
	r.Problems = append(r.Problems, probs...)
	return r
}

// kernelProcessEnv is the environment for nbconvert and the kernel it starts: ours, without the
// GOROOT that `go run` / `go test` set for the toolchain they picked. The kernel finds its own go
// on the kernel spec's PATH, and a GOROOT of another version would break every build it runs.
func kernelProcessEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOROOT=") {
			env = append(env, kv)
		}
	}
	return env
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// executeNotebooks runs notebooks, at most o.Parallel at a time, and returns their results in order.
func executeNotebooks(ctx context.Context, paths []string, o nbOptions) []nbResult {
	par := max(o.Parallel, 1)
	res := make([]nbResult, len(paths))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res[i] = executeNotebook(ctx, p, o)
		}()
	}
	wg.Wait()
	return res
}

func runNotebooksCmd(args []string) error {
	c := newCLI("notebooks")
	c.leftover = true
	dir := c.string("dir", "notebooks", nil, "directory whose *.ipynb run when no notebook is named")
	par := c.int("parallel", 2, 1, "notebooks executed at the same time")
	cellTimeout := c.duration("cell-timeout", 20*time.Minute, true, "time limit of one cell")
	quick := c.bool("quick", "quick mode: EXECFEED_QUICK=1 (small data, few steps); also when EXECFEED_QUICK=1 is set")
	out := c.string("out", "", nil, "keep the executed notebooks in this directory")
	if err := parseOrHelp(c, args, func(w io.Writer) {
		fmt.Fprintf(w, "usage: kernel notebooks [flags] [NOTEBOOK.ipynb ...]\n\nExecutes notebooks headless with jupyter nbconvert and the gonb kernel, and fails if any\nnotebook fails: nbconvert exits non-zero, a cell has an error output, or a cell's stderr\nshows a panic or a non-zero exit status. Without arguments: every notebooks/*.ipynb.\n\n")
		c.printDefaults(w)
	}); err != nil {
		return err
	}
	*quick = *quick || os.Getenv("EXECFEED_QUICK") == "1"
	paths := c.fs.Args()
	for _, p := range paths {
		if filepath.Ext(p) != ".ipynb" {
			return fmt.Errorf("%s: not a notebook (want a .ipynb file)", p)
		}
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("no such notebook: %w", err)
		}
	}
	if len(paths) == 0 {
		var err error
		if paths, err = filepath.Glob(filepath.Join(*dir, "*.ipynb")); err != nil {
			return err
		}
		if len(paths) == 0 {
			return fmt.Errorf("no notebooks in %s", *dir)
		}
	}
	if err := checkJupyter(); err != nil {
		return err
	}
	res := executeNotebooks(context.Background(), paths, nbOptions{CellTimeout: *cellTimeout, Parallel: *par, Quick: *quick, OutDir: *out})
	failed := 0
	for _, r := range res {
		status := "ok  "
		if r.Failed() {
			status = "FAIL"
			failed++
		}
		fmt.Printf("%s %-40s %6.1fs %s\n", status, r.Path, r.Duration.Seconds(), r.Output)
		for _, p := range r.Problems {
			fmt.Printf("     %s\n", strings.ReplaceAll(p.String(), "\n", "\n     "))
		}
	}
	if failed > 0 {
		return errors.New(fmt.Sprint(failed, " of ", len(res), " notebooks failed"))
	}
	return nil
}

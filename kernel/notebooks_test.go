package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScanNotebook checks the scan on a hand-made executed notebook: nbconvert exits 0 for a Go
// panic or os.Exit(1) under some GoNB versions, so these must be found in the outputs.
func TestScanNotebook(t *testing.T) {
	nb := `{"cells": [
	 {"cell_type": "markdown", "source": ["# hi"]},
	 {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout", "text": ["panic: printed on stdout is fine\n"]}]},
	 {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stderr", "text": ["warning: slow\n", "panic: boom\n", "\n", "goroutine 1 [running]:\n"]}]},
	 {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stderr", "text": "exit status 1\n"}]},
	 {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stderr", "text": "no panic: here, exit status 3 mid-line\n"}]},
	 {"cell_type": "code", "outputs": [{"output_type": "error", "ename": "ERROR", "evalue": "failed to compile", "traceback": []}]}
	], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`
	probs, err := scanNotebook([]byte(nb))
	if err != nil {
		t.Fatal(err)
	}
	want := []nbProblem{
		{2, "stderr", "panic: boom"},
		{3, "stderr", "exit status 1"},
		{5, "error", "ERROR: failed to compile"},
	}
	if len(probs) != len(want) {
		t.Fatalf("problems %v, want %v", probs, want)
	}
	for i := range want {
		if probs[i] != want[i] {
			t.Errorf("problem %d = %v, want %v", i, probs[i], want[i])
		}
	}
	if _, err := scanNotebook([]byte("not json")); err == nil {
		t.Error("scanNotebook accepted garbage")
	}
}

// needJupyter skips the test when Jupyter or the gonb kernel is missing, except in CI, where
// that is a failure: .ci/run installs both, and a skipped notebook run would hide a broken CI.
func needJupyter(t *testing.T) {
	t.Helper()
	if err := checkJupyter(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but notebooks cannot run: %v (install with: go run ./kernel install)", err)
		}
		t.Skipf("skipping notebook execution: %v (install Jupyter, then: go run ./kernel install)", err)
	}
}

// testContext bounds the notebook runs by the test binary's deadline.
func testContext(t *testing.T) context.Context {
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-15*time.Second))
		t.Cleanup(cancel)
	}
	return ctx
}

// TestFailingNotebookReported executes kernel/testdata/failing.ipynb, which plants a panic and an
// os.Exit(1), and checks the runner reports both.
func TestFailingNotebookReported(t *testing.T) {
	needJupyter(t)
	r := executeNotebook(testContext(t), filepath.Join("testdata", "failing.ipynb"), nbOptions{Quick: true, CellTimeout: 5 * time.Minute})
	if !r.Failed() {
		t.Fatalf("failing.ipynb was not reported as failing")
	}
	var panicked, exited bool
	for _, p := range r.Problems {
		t.Logf("%s: %v", r.Path, p)
		if p.Kind == "nbconvert" {
			t.Errorf("nbconvert itself failed: %v", p)
		}
		panicked = panicked || (p.Cell == 2 && p.Kind == "stderr" && strings.HasPrefix(p.Text, "panic: planted failure"))
		exited = exited || (p.Cell == 3 && p.Kind == "stderr" && p.Text == "exit status 1")
	}
	if !panicked {
		t.Errorf("the planted panic (cell 2) was not reported")
	}
	if !exited {
		t.Errorf("the planted exit status 1 (cell 3) was not reported")
	}
}

// TestNotebooks executes every notebooks/*.ipynb in quick mode, two at a time, and fails on any
// failure the runner finds.
func TestNotebooks(t *testing.T) {
	needJupyter(t)
	paths, err := filepath.Glob(filepath.Join("..", "notebooks", "*.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no notebooks in ../notebooks")
	}
	out := ""
	if os.Getenv("EXECFEED_NOTEBOOK_OUT") != "" {
		out = os.Getenv("EXECFEED_NOTEBOOK_OUT")
	}
	res := executeNotebooks(testContext(t), paths, nbOptions{Quick: true, Parallel: 2, CellTimeout: 20 * time.Minute, OutDir: out})
	for _, r := range res {
		t.Run(strings.TrimSuffix(filepath.Base(r.Path), ".ipynb"), func(t *testing.T) {
			t.Logf("%s executed in %.1fs", r.Path, r.Duration.Seconds())
			for _, p := range r.Problems {
				t.Errorf("%s: %v", r.Path, p)
			}
		})
	}
}

// TestNotebooksUseLibraryHelpers keeps copy-pasted helpers out of the notebooks: the module set-up
// is notebooks/setup.sh, errors stop a cell through github.com/janpfeifer/must, results load
// through lib/experiment, rollouts of given programs come from rl.RolloutOf, the harness's JSONL
// files are read through sandbox.
func TestNotebooksUseLibraryHelpers(t *testing.T) {
	paths, err := filepath.Glob("../notebooks/*.ipynb")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks: %v", err)
	}
	banned := map[string]string{
		"func must":         "use must.M1 from github.com/janpfeifer/must",
		`"results.json"`:    "load results with experiment.LoadRLResults / LoadDEFResults",
		"go mod edit":       "run setup.sh",
		"&rl.Rollout{":      "build rollouts of given programs with rl.RolloutOf",
		"float32(seqAdv[r]": "use rl.TokenAdvantages",
		"bufio.NewScanner":  "read the harness's files with sandbox.LoadResults / LoadSamples / LoadProblems",
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var nb struct {
			Cells []struct {
				CellType string          `json:"cell_type"`
				Source   json.RawMessage `json:"source"`
			} `json:"cells"`
		}
		if err := json.Unmarshal(b, &nb); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for i, c := range nb.Cells {
			if c.CellType != "code" {
				continue
			}
			src := multiline(c.Source)
			if i == 1 && !strings.Contains(src, "setup.sh") {
				t.Errorf("%s: the first code cell does not run setup.sh", p)
			}
			for bad, instead := range banned {
				if strings.Contains(src, bad) {
					t.Errorf("%s cell %d has %q: %s", p, i, bad, instead)
				}
			}
		}
	}
}

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/execfeed/execfeed/lib/experiment"
	"github.com/execfeed/execfeed/lib/metrics"
)

// TestRunManifestStatus: an experiment's prepare writes a running manifest with the flags given,
// and the run's result decides the final status: finished, interrupted (the error resumeHint
// wraps), failed with the error's text; a resumed run keeps the first start and counts.
func TestRunManifestStatus(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	start := func(args ...string) *experiment.Manifest {
		t.Helper()
		c := newCLI("run rpn-egca")
		f := newCommonFlags(c, "rpn-egca", func(bool) string { return dir }, "test")
		if err := c.parse(args); err != nil {
			t.Fatal(err)
		}
		out, err := f.prepare()
		if err != nil || out != dir {
			t.Fatalf("prepare: %q, %v", out, err)
		}
		m, err := experiment.ReadManifest(dir)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != experiment.StatusRunning || m.State() != experiment.StatusRunning || m.PID != os.Getpid() || m.Experiment != "rpn-egca" {
			t.Errorf("while running: %+v", m)
		}
		return m
	}
	finish := func(err error) *experiment.Manifest {
		t.Helper()
		if got := finishRun(err); !errors.Is(got, err) {
			t.Errorf("finishRun(%v) = %v", err, got)
		}
		m, rerr := experiment.ReadManifest(dir)
		if rerr != nil {
			t.Fatal(rerr)
		}
		return m
	}

	m := start("-quick", "-checkpoint-every", "1m")
	if !m.Quick || m.Flags["quick"] != "true" || m.Flags["checkpoint-every"] != "1m0s" || len(m.Flags) != 2 {
		t.Errorf("manifest flags %v quick %v, want the two flags given", m.Flags, m.Quick)
	}
	m = finish(nil)
	if m.Status != experiment.StatusFinished || m.End.IsZero() || m.Error != "" {
		t.Errorf("finished run: %+v", m)
	}
	first := m.Start

	start("-quick", "-resume")
	in := &experiment.Interrupted{Experiment: "rpn-egca", Checkpoint: experiment.CheckpointPath(dir)}
	m = finish(resumeHint(in))
	if m.Status != experiment.StatusInterrupted || m.Resumes != 1 || !m.Start.Equal(first) || !strings.Contains(m.Error, "checkpoint saved") {
		t.Errorf("interrupted resumed run: %+v", m)
	}

	start("-quick")
	m = finish(errors.New("proxy diverged"))
	if m.Status != experiment.StatusFailed || m.Error != "proxy diverged" || m.Resumes != 0 {
		t.Errorf("failed run: %+v", m)
	}
	if err := finishRun(errors.New("x")); err == nil || err.Error() != "x" {
		t.Errorf("finishRun with no active run: %v", err)
	}
}

// TestResumeFromManifest: `kernel run -resume DIR` reruns the recorded experiment with its
// recorded flags plus -resume -out DIR; a finished run, a live one and a folder without a
// manifest are clear errors.
func TestResumeFromManifest(t *testing.T) {
	stopBeforeTraining(t)
	t.Chdir(t.TempDir())
	dir := "old-run"
	os.MkdirAll(dir, 0o755)
	m := experiment.NewManifest("rpn-egca", true, []string{"kernel", "run", "rpn-egca", "-quick", "-iters", "2", "-out", "elsewhere"})
	m.Flags = map[string]string{"quick": "true", "iters": "2", "methods": "sft,egca", "out": "elsewhere", "resume": "true"}
	m.PID = deadPID(t)
	if err := experiment.WriteManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	want := []string{"rpn-egca", "-iters=2", "-methods=sft,egca", "-quick=true", "-resume", "-out", dir}
	if got := resumeArgs(m, dir); !slices.Equal(got, want) {
		t.Errorf("resumeArgs = %q, want %q", got, want)
	}
	if m.State() != experiment.StateKilled {
		t.Errorf("a dead process's run is %q, want killed", m.State())
	}
	// The recorded command line passes every check and reaches training.
	if err := runExperiment([]string{"-resume", dir}); !errors.Is(err, errWouldTrain) {
		t.Errorf("run -resume %s: %v, want it to reach training", dir, err)
	}

	for _, tc := range []struct {
		status string
		pid    int
		want   string
	}{
		{experiment.StatusFinished, m.PID, "nothing to resume"},
		{experiment.StatusRunning, os.Getpid(), "still running"},
	} {
		m.Status, m.PID = tc.status, tc.pid
		experiment.WriteManifest(dir, m)
		if err := runExperiment([]string{"-resume", dir}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("resuming a %s run: %v, want an error saying %q", tc.status, err, tc.want)
		}
	}
	if err := runExperiment([]string{"rpn-egca", "-resume", dir}); err == nil || !strings.Contains(err.Error(), "kernel run -resume DIR") {
		t.Errorf("run rpn-egca -resume DIR: %v, want a hint at kernel run -resume DIR", err)
	}
	for _, args := range [][]string{{"-resume", "no-such-run"}, {"-resume", dir, "-from", "r.json"}, {"-resume", dir, "-out", "x"}} {
		if err := runExperiment(args); err == nil || !names(err, "resume") {
			t.Errorf("run %v: %v, want an error naming -resume", args, err)
		}
	}
}

// deadPID is the pid of a process that has exited.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	return cmd.Process.Pid
}

// rlResults is a small hand-made RL results file: grpo and egca with the given mean test
// functional accuracy, and iters iterations.
func rlResults(date string, iters int, grpo, egca float64) *experiment.RLResults {
	cfg, _ := experiment.QuickRLConfig("rpn-egca")
	cfg.Iters = iters
	res := &experiment.RLResults{Provenance: experiment.Provenance{Experiment: "rpn-egca", Quick: true, Complete: true, Date: date,
		Build: experiment.Build{Revision: "0123456789abcdef", Go: "go1.27"}}, Config: cfg}
	for _, s := range []struct {
		method string
		f      float64
	}{{"grpo", grpo}, {"egca", egca}} {
		res.Summary = append(res.Summary, experiment.RLSummary{Method: s.method, Seeds: 1,
			Mean: map[string]float64{"functional": s.f, "exact": s.f / 2, "pass@1": s.f / 2, "pass@5": s.f, "pass@10": 0.9}})
	}
	return res
}

// defResults is a small hand-made rpn-def results file.
func defResults(date string, baseline, def float64) *experiment.DEFResults {
	res := &experiment.DEFResults{Provenance: experiment.Provenance{Experiment: "rpn-def", Complete: true, Date: date,
		Build: experiment.Build{Go: "go1.27"}}, Config: experiment.DefaultDEFConfig()}
	for _, r := range []struct {
		name string
		x    float64
	}{{"baseline", baseline}, {"def", def}} {
		res.Routines = append(res.Routines, experiment.RoutineResult{Routine: experiment.Routine{Name: r.name},
			FinalTest: metrics.Accuracy{N: 100, Exact: r.x, Functional: r.x + 0.01}})
	}
	return res
}

// writeRun writes a run folder under root: results (nil: none) and a manifest (nil: none).
func writeRun(t *testing.T, root, name string, results any, m *experiment.Manifest) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if results != nil {
		if _, err := experiment.WriteJSON(dir, "results.json", results); err != nil {
			t.Fatal(err)
		}
	}
	if m != nil {
		if err := experiment.WriteManifest(dir, m); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// manifestAt is a manifest of a run of exp that started at start (RFC 3339) and has status.
func manifestAt(t *testing.T, exp, start, status string, quick bool) *experiment.Manifest {
	m := experiment.NewManifest(exp, quick, []string{"kernel", "run", exp})
	var err error
	if m.Start, err = time.Parse(time.RFC3339, start); err != nil {
		t.Fatal(err)
	}
	m.Status, m.Commit, m.Modified = status, "fedcba9876543210", false
	if status != experiment.StatusRunning {
		m.End = m.Start.Add(5*time.Minute + 7*time.Second)
	}
	return m
}

// TestRunsList: kernel runs lists every run folder at most two levels down, oldest first, with
// its status (a running run whose process is gone shows as killed), duration, commit, quick and
// headline numbers; results without a manifest show too.
func TestRunsList(t *testing.T) {
	root := t.TempDir()
	writeRun(t, root, "egca-b", rlResults("2026-11-30T10:00:00Z", 3, 0.45, 0.5),
		manifestAt(t, "rpn-egca", "2026-11-30T10:00:00Z", experiment.StatusFinished, true))
	killed := manifestAt(t, "rpn-def", "2026-11-30T09:00:00Z", experiment.StatusRunning, false)
	killed.PID = deadPID(t)
	writeRun(t, root, "def-killed", nil, killed)
	failed := manifestAt(t, "py-grpo", "2026-11-30T11:00:00Z", experiment.StatusFailed, false)
	writeRun(t, root, "sweep/py-failed", nil, failed)
	writeRun(t, root, "old-def", defResults("2026-11-29T08:00:00Z", 0.9875, 0.8405), nil)
	writeRun(t, root, "a/b/too-deep", nil, manifestAt(t, "rpn-eta", "2026-11-30T12:00:00Z", experiment.StatusFinished, false))
	writeRun(t, root, "other", nil, nil)
	os.WriteFile(filepath.Join(root, "other", "results.json"), []byte(`{"x": 1}`), 0o644)

	var b bytes.Buffer
	if err := listRuns(&b, root); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "folder") {
		t.Fatalf("want a header and 4 runs:\n%s", out)
	}
	wantRows := []string{ // oldest first
		`old-def +rpn-def +finished \(no manifest\) .* - +- +baseline 98\.75%, def 84\.05%$`,
		`def-killed +rpn-def +killed .* - +fedcba9 +- *$`,
		`egca-b +rpn-egca +finished .* 5m07s +fedcba9 +quick +grpo 45\.00%, egca 50\.00%$`,
		`sweep/py-failed +py-grpo +failed .* 5m07s +fedcba9 +- *$`,
	}
	for i, re := range wantRows {
		if !regexp.MustCompile(re).MatchString(lines[i+1]) {
			t.Errorf("row %d = %q, want it to match %s\n%s", i+1, lines[i+1], re, out)
		}
	}
	if strings.Contains(out, "too-deep") || strings.Contains(out, "other") {
		t.Errorf("lists a folder three levels down or a file that is not a run:\n%s", out)
	}

	b.Reset()
	if err := listRuns(&b, t.TempDir()); err != nil || !strings.Contains(b.String(), "no runs under") {
		t.Errorf("an empty root: %v %q", err, b.String())
	}
	if err := runRuns([]string{"-root", filepath.Join(root, "missing")}); err == nil || !names(err, "root") {
		t.Errorf("a missing root: %v, want an error naming -root", err)
	}
}

// TestCompare: kernel compare sets two runs' headline numbers side by side with B - A, says which
// settings differ, and says when the runs are different experiments.
func TestCompare(t *testing.T) {
	root := t.TempDir()
	m := manifestAt(t, "rpn-egca", "2026-11-30T10:00:00Z", experiment.StatusFinished, true)
	m.Flags = map[string]string{"quick": "true", "iters": "2"}
	a := writeRun(t, root, "a", rlResults("2026-11-30T10:00:00Z", 2, 0.40, 0.50), m)
	b := writeRun(t, root, "b", rlResults("2026-11-30T11:00:00Z", 3, 0.45, 0.48), nil)
	var out bytes.Buffer
	if err := compareRuns(&out, a, experiment.ResultsPath(b)); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, re := range []string{
		`(?m)^A  .*a/results\.json\n   rpn-egca \(quick\), started .*, commit 0123456, finished\n   flags: -iters=2 -quick=true$`,
		`(?m)^B  .*b/results\.json\n   rpn-egca \(quick\), started .*, commit 0123456, finished \(no manifest\)$`,
		`(?m)^grpo test functional +40\.00% +45\.00% +\+5\.00$`,
		`(?m)^egca test functional +50\.00% +48\.00% +-2\.00$`,
		`(?m)^egca pass@1 +25\.00% +24\.00% +-1\.00$`,
		`(?m)^grpo pass@10 +90\.00% +90\.00% +\+0\.00$`,
		`(?m)^the configurations differ \(A != B\):\n  iters: 2 != 3$`,
	} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("compare output lacks %s:\n%s", re, s)
		}
	}
	if strings.Contains(s, "different experiments") {
		t.Errorf("two rpn-egca runs called different experiments:\n%s", s)
	}

	out.Reset()
	if err := compareRuns(&out, a, a); err != nil || !strings.Contains(out.String(), "same configuration") {
		t.Errorf("a run against itself: %v\n%s", err, out.String())
	}

	d := writeRun(t, root, "def", defResults("2026-11-29T08:00:00Z", 0.9875, 0.8405), nil)
	out.Reset()
	if err := compareRuns(&out, d, a); err != nil {
		t.Fatal(err)
	}
	s = out.String()
	for _, re := range []string{`(?m)^baseline test exact +98\.75% +- +-$`, `(?m)^def test functional +85\.05% +- +-$`,
		`(?m)^grpo test functional +- +40\.00% +-$`, `different experiments \(rpn-def, rpn-egca\)`} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("rpn-def vs rpn-egca lacks %s:\n%s", re, s)
		}
	}

	// Bad paths: each error names the side and what is wrong.
	empty := writeRun(t, root, "empty", nil, nil)
	notResults := filepath.Join(root, "notes.json")
	os.WriteFile(notResults, []byte(`{"note": "hello"}`), 0o644)
	garbage := filepath.Join(root, "garbage.json")
	os.WriteFile(garbage, []byte(`not json`), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{filepath.Join(root, "missing"), a}, "A: no run folder or results file at"},
		{[]string{a, empty}, "B: " + empty + " holds no results.json"},
		{[]string{notResults, a}, "A: " + notResults + " is not a results file"},
		{[]string{a, garbage}, "B: " + garbage + " is not a results file"},
		{[]string{a}, "usage: kernel compare A B"},
		{[]string{a, b, d}, "usage: kernel compare A B"},
	} {
		err := runCompare(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compare %v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// TestInterruptTwice: the first signal cancels the run's context and the second, while the run
// is still saving, exits at once with status 130; signals after the run returned do nothing.
func TestInterruptTwice(t *testing.T) {
	sig := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	var out bytes.Buffer
	ctx, stop := interruptOn(sig, &out, func(code int) { exited <- code })
	sig <- os.Interrupt
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the first interrupt did not cancel the context")
	}
	sig <- os.Interrupt
	select {
	case code := <-exited:
		if code != 130 {
			t.Errorf("second interrupt: exit status %d, want 130", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second interrupt did not exit")
	}
	stop()

	sig2 := make(chan os.Signal, 2)
	ctx2, stop2 := interruptOn(sig2, &out, func(code int) { exited <- code })
	stop2() // the run returned
	sig2 <- os.Interrupt
	select {
	case code := <-exited:
		t.Errorf("a signal after the run returned exited with %d", code)
	case <-time.After(100 * time.Millisecond):
	}
	if ctx2.Err() == nil {
		t.Error("stop did not cancel the context")
	}
}

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/execfeed/execfeed/lib/experiment"
)

// The acceptance tests of issue 16 for rpn-def: a run killed part way (SIGKILL) or stopped by
// Ctrl-C (SIGINT) and resumed with -resume gives the results of an uninterrupted run. The kernel
// runs in a child process: this test binary started again with kernelArgsEnv set, which runs
// main with those arguments (TestKernelHelperProcess), so no separate build is needed.

// kernelArgsEnv holds the child process's command line, its words separated by \x1f.
const kernelArgsEnv = "EXECFEED_TEST_KERNEL_ARGS"

// TestKernelHelperProcess is not a test: in a child process started by kernelCmd it is the kernel.
func TestKernelHelperProcess(t *testing.T) {
	args := os.Getenv(kernelArgsEnv)
	if args == "" {
		return
	}
	os.Args = append([]string{"kernel"}, strings.Split(args, "\x1f")...)
	main()
	os.Exit(0)
}

// kernelCmd is `kernel args...` as a child process, its stderr collected in stderr.
func kernelCmd(stderr *bytes.Buffer, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestKernelHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), kernelArgsEnv+"="+strings.Join(args, "\x1f"))
	cmd.Stderr = stderr
	return cmd
}

// tinyDEF is the command line of a tiny rpn-def run (baseline and DEF, 3 epochs of 4 steps) writing
// to dir, checkpointing at every epoch's end; tinyDEFConfig is the configuration it resolves.
func tinyDEF(dir string, more ...string) []string {
	return append([]string{"run", "rpn-def", "-quick", "-out", dir, "-checkpoint-every", "1ns", "-train-size", "256",
		"-eval-size", "32", "-epochs", "3", "-proxy-epochs", "1", "-grad-check", "0"}, more...)
}

func tinyDEFConfig(dir string) experiment.DEFConfig {
	cfg := experiment.QuickDEFConfig()
	cfg.OutDir, cfg.TrainSize, cfg.EvalSize, cfg.Epochs, cfg.ProxyEpochs, cfg.GradCheck = dir, 256, 32, 3, 1, 0
	return cfg
}

// partState is the part of rpn-def's checkpoint these tests look at (gob decodes the fields a
// type has and skips the others).
type partState struct {
	Routines []experiment.RoutineResult
	Current  *struct{ Steps int }
}

// runKernel runs the kernel to its end and returns its stderr; it fails the test when the exit
// status is not want.
func runKernel(t *testing.T, want int, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	code := 0
	if err := kernelCmd(&stderr, args...).Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("kernel %s: %v", strings.Join(args, " "), err)
		}
		code = exit.ExitCode()
	}
	if code != want {
		t.Fatalf("kernel %s: exit status %d, want %d\n%s", strings.Join(args, " "), code, want, stderr.String())
	}
	return stderr.String()
}

// stopMidRoutine starts the tiny run in a new folder, waits until its checkpoint holds a routine
// part way through (after that routine's first epoch: the run has more than a routine left),
// sends sig and waits for the process to end (stopWhen). It returns the folder, the process's
// stderr and its exit (nil: status 0). Under -short it skips the test.
func stopMidRoutine(t *testing.T, sig syscall.Signal) (dir, stderrText string, exit *exec.ExitError) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs rpn-def two to four times")
	}
	dir = t.TempDir()
	path, cfg := experiment.CheckpointPath(dir), tinyDEFConfig(dir)
	midRoutine := func() bool {
		var st partState
		return experiment.LoadCheckpoint(path, "rpn-def", cfg, &st) == nil && st.Current != nil && st.Current.Steps > 0
	}
	stderrText, err := stopWhen(t, tinyDEF(dir), midRoutine, sig)
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return dir, stderrText, exit
}

// resumeMatches resumes the tiny run in dir to its end and fails the test when its results differ
// from the uninterrupted run's (timings aside) or its checkpoint remains.
func resumeMatches(t *testing.T, dir string) {
	t.Helper()
	if out := runKernel(t, 0, tinyDEF(dir, "-resume")...); !strings.Contains(out, "rpn-def: resuming from "+experiment.CheckpointPath(dir)) {
		t.Errorf("the resumed run does not say it resumes:\n%s", out)
	}
	want := uninterruptedDEF(t)
	got, err := experiment.LoadDEFResults(experiment.ResultsPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	resumedLikeWhole(t, want, got, got.Complete, dir)
}

var uninterrupted struct {
	once sync.Once
	res  *experiment.DEFResults
}

// uninterruptedDEF is the tiny run's results without interruption (run once for both tests).
func uninterruptedDEF(t *testing.T) *experiment.DEFResults {
	t.Helper()
	uninterrupted.once.Do(func() {
		dir, err := os.MkdirTemp("", "rpn-def-uninterrupted")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		runKernel(t, 0, tinyDEF(dir)...)
		if uninterrupted.res, err = experiment.LoadDEFResults(experiment.ResultsPath(dir)); err != nil {
			t.Fatal(err)
		}
	})
	if uninterrupted.res == nil {
		t.Fatal("the uninterrupted run failed (see the first test that ran it)")
	}
	return uninterrupted.res
}

// TestDEFKilledRunResumes: rpn-def killed with SIGKILL part way through a routine continues
// from its last checkpoint with -resume and ends with the uninterrupted run's results; without
// -resume the checkpoint stops a new run from overwriting it.
func TestDEFKilledRunResumes(t *testing.T) {
	dir, stderr, exit := stopMidRoutine(t, syscall.SIGKILL)
	if exit == nil || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the run was not killed: %v\n%s", exit, stderr)
	}
	if out := runKernel(t, 1, tinyDEF(dir)...); !strings.Contains(out, "add -resume to continue it") {
		t.Errorf("a new run over a killed run's checkpoint: %s", out)
	}
	resumeMatches(t, dir)
}

// TestDEFInterruptSavesAndResumes: SIGINT stops rpn-def with exit status 1, a valid checkpoint
// and the command that resumes it on stderr; that command finishes the run with the
// uninterrupted run's results.
func TestDEFInterruptSavesAndResumes(t *testing.T) {
	dir, stderr, exit := stopMidRoutine(t, syscall.SIGINT)
	if exit == nil || exit.ExitCode() != 1 {
		t.Fatalf("after SIGINT: %v, want exit status 1\n%s", exit, stderr)
	}
	var st partState
	if err := experiment.LoadCheckpoint(experiment.CheckpointPath(dir), "rpn-def", tinyDEFConfig(dir), &st); err != nil || st.Current == nil {
		t.Fatalf("the interrupted run's checkpoint: %v, routine part way %v", err, st.Current)
	}
	hint := "resume with: kernel " + strings.Join(tinyDEF(dir, "-resume"), " ")
	if !strings.Contains(stderr, hint) {
		t.Fatalf("stderr lacks %q:\n%s", hint, stderr)
	}
	resumeMatches(t, dir)
}

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/execfeed/execfeed/lib/experiment"
)

// The acceptance tests of issue 16 for an RL experiment: rpn-egca (the supervised start, then
// GRPO and EGCA) killed part way through a method (SIGKILL) resumes with -resume and ends with the
// uninterrupted run's results; SIGINT stops it with a valid checkpoint and the command that
// resumes it. The kernel runs as a child process (kernelCmd, resume_def_test.go).

// rlIters is the iterations per method of the runs here: about 20 s for a whole run on 2 cores.
const rlIters = 60

// rlArgs is the command line of the quick rpn-egca run writing to dir; rlRunConfig is the
// configuration it resolves.
func rlArgs(dir string, more ...string) []string {
	return append([]string{"run", "rpn-egca", "-quick", "-out", dir, "-iters", fmt.Sprint(rlIters)}, more...)
}

func rlRunConfig() experiment.RLConfig {
	cfg, _ := experiment.QuickRLConfig("rpn-egca")
	cfg.Iters = rlIters
	return cfg
}

// rlPart is the part of an RL run's checkpoint these tests look at (gob decodes the fields a type
// has and skips the others).
type rlPart struct {
	Runs    []experiment.RLRun
	Current *struct {
		Run  struct{ Method string }
		Iter int
	}
}

// readRLPart reads the checkpoint in dir (false when there is none yet or it is not readable).
func readRLPart(dir string) (rlPart, bool) {
	var st rlPart
	err := experiment.LoadCheckpoint(experiment.CheckpointPath(dir), "rpn-egca", rlRunConfig(), &st)
	return st, err == nil
}

// stopWhen starts `kernel args...`, polls ready until it holds, sends sig and waits for the
// process to end. It returns the process's stderr and how it ended (cmd.Wait).
func stopWhen(t *testing.T, args []string, ready func() bool, sig syscall.Signal) (string, error) {
	t.Helper()
	var stderr bytes.Buffer // written by the process; read once it has ended
	cmd := kernelCmd(&stderr, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(90 * time.Second)
	for !ready() {
		select {
		case err := <-exited:
			t.Fatalf("kernel %s ended (%v) before the moment to stop it:\n%s", strings.Join(args, " "), err, stderr.String())
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("kernel %s: not ready to stop after 90 s:\n%s", strings.Join(args, " "), stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		return stderr.String(), err
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("kernel %s did not end within 60 s of %v:\n%s", strings.Join(args, " "), sig, stderr.String())
	}
	return "", nil
}

// every saves a checkpoint after every iteration.
var every = []string{"-checkpoint-every", "1ns"}

// inGRPO reports whether the checkpoint in dir holds GRPO's run past iteration iter.
func inGRPO(dir string, iter int) func() bool {
	return func() bool {
		st, ok := readRLPart(dir)
		return ok && st.Current != nil && st.Current.Run.Method == "grpo" && st.Current.Iter > iter
	}
}

// TestRLKilledRunResumes: rpn-egca killed with SIGKILL part way through GRPO, its checkpoint saved
// after every iteration, continues with -resume from the last one and ends with the uninterrupted
// run's results (every number but the timings); without -resume the checkpoint stops a new run
// from overwriting it.
func TestRLKilledRunResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rpn-egca three times (about a minute)")
	}
	whole := t.TempDir()
	runKernel(t, 0, rlArgs(whole)...)
	want, err := experiment.LoadRLResults(experiment.ResultsPath(whole))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stderr, err := stopWhen(t, rlArgs(dir, every...), inGRPO(dir, rlIters/3), syscall.SIGKILL)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the run was not killed: %v\n%s", err, stderr)
	}
	if out := runKernel(t, 1, rlArgs(dir, every...)...); !strings.Contains(out, "add -resume to continue it") {
		t.Errorf("a new run over a killed run's checkpoint: %s", out)
	}
	out := runKernel(t, 0, rlArgs(dir, append(every, "-resume")...)...)
	for _, s := range []string{"rpn-egca: resuming from " + experiment.CheckpointPath(dir), "grpo seed 1: continuing after iteration"} {
		if !strings.Contains(out, s) {
			t.Errorf("the resumed run does not say %q:\n%s", s, out)
		}
	}
	got, err := experiment.LoadRLResults(experiment.ResultsPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	resumedLikeWhole(t, want, got, got.Complete, dir)
}

// resumedLikeWhole fails the test when a resumed run's results got (complete or not), in dir,
// differ from the uninterrupted run's want (timings aside), or when the run left its checkpoint.
func resumedLikeWhole(t *testing.T, want, got any, complete bool, dir string) {
	t.Helper()
	if d := experiment.DiffResults(want, got); len(d) > 0 || !complete {
		t.Errorf("the resumed run's results differ from the uninterrupted run's (complete %v):\n%s", complete, strings.Join(d, "\n"))
	}
	if _, err := os.Stat(experiment.CheckpointPath(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the finished run left its checkpoint (%v)", err)
	}
}

// TestRLInterruptSavesCheckpoint: SIGINT part way through GRPO stops rpn-egca with exit status 1,
// a valid checkpoint of the iterations done, and the command that resumes it on stderr.
func TestRLInterruptSavesCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rpn-egca")
	}
	dir := t.TempDir()
	stderr, err := stopWhen(t, rlArgs(dir, every...), inGRPO(dir, 1), syscall.SIGINT)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("after SIGINT: %v, want exit status 1\n%s", err, stderr)
	}
	st, ok := readRLPart(dir)
	if !ok || st.Current == nil || st.Current.Iter < 2 || len(st.Runs) != 1 {
		t.Fatalf("the interrupted run's checkpoint: readable %v, run part way %+v, %d runs done (want sft's)", ok, st.Current, len(st.Runs))
	}
	if hint := "resume with: kernel " + strings.Join(rlArgs(dir, every...), " ") + " -resume"; !strings.Contains(stderr, hint) {
		t.Errorf("stderr lacks %q:\n%s", hint, stderr)
	}
}

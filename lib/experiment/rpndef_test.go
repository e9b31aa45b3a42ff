package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/execfeed/execfeed/lib/rpn"
)

// TestRunDEFEndToEnd runs a tiny rpn-def (every routine, one epoch) and checks the files and the
// numbers it reports are well formed.
func TestRunDEFEndToEnd(t *testing.T) {
	cfg := QuickDEFConfig()
	cfg.TrainSize, cfg.EvalSize, cfg.Epochs, cfg.ProxyEpochs, cfg.GradCheck = 128, 32, 1, 1, 8
	cfg.Routines = []string{"baseline", "def", "def-strong-st"}
	cfg.OutDir = t.TempDir()
	cfg.Log = nil
	res, err := RunDEF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Routines) != 3 || res.ProxyMSE <= 0 || res.Gradient == nil || res.Gradient.Directions == 0 {
		t.Fatalf("incomplete results: %+v", res)
	}
	for _, r := range res.Routines {
		e := r.Epochs[0]
		if e.Val.N != 32 || e.Test.N != 32 || !(e.Loss > 0) {
			t.Fatalf("%s: epoch record %+v", r.Name, e)
		}
		if (r.Lambda > 0) != (e.MSE > 0) {
			t.Fatalf("%s: λ %g but MSE %g", r.Name, r.Lambda, e.MSE)
		}
	}
	b, err := os.ReadFile(filepath.Join(cfg.OutDir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back DEFResults
	if err := json.Unmarshal(b, &back); err != nil || len(back.Routines) != 3 {
		t.Fatalf("results.json: %v", err)
	}
	svg, err := os.ReadFile(filepath.Join(cfg.OutDir, "accuracy.svg"))
	if err != nil || !strings.Contains(string(svg), "<svg") {
		t.Fatalf("accuracy.svg: %v", err)
	}
}

func TestRunDEFRejectsBadConfig(t *testing.T) {
	cfg := QuickDEFConfig()
	cfg.Routines = []string{"nope"}
	if _, err := RunDEF(cfg); err == nil || !strings.Contains(err.Error(), `unknown routine "nope"`) {
		t.Fatalf("got %v", err)
	}
	for _, bad := range []func(*DEFConfig){
		func(c *DEFConfig) { c.Epochs = 0 },
		func(c *DEFConfig) { c.Routines = []string{"baseline", "baseline"} },
		func(c *DEFConfig) { c.Lambda = 0 }, // "def" would be plain CE
		func(c *DEFConfig) { c.TrainSize = 9000 },
		func(c *DEFConfig) { c.OutDir = "/proc/no/such/dir" },
	} {
		cfg = QuickDEFConfig()
		cfg.OutDir = t.TempDir()
		bad(&cfg)
		if _, err := RunDEF(cfg); err == nil {
			t.Errorf("bad config accepted: %+v", cfg)
		}
	}
	cfg = QuickDEFConfig()
	cfg.DataDir, cfg.OutDir = t.TempDir(), t.TempDir()
	if _, err := RunDEF(cfg); err == nil || !strings.Contains(err.Error(), "train.jsonl") {
		t.Fatalf("missing data dir: %v", err)
	}
}

func TestTuneDEF(t *testing.T) {
	cfg := QuickDEFConfig()
	cfg.TrainSize, cfg.EvalSize, cfg.Epochs, cfg.GradCheck = 128, 32, 1, 0
	cfg.Routines, cfg.TuneTrials, cfg.TuneEpochs = []string{"baseline"}, 2, 1
	cfg.OutDir, cfg.Log = t.TempDir(), nil
	res, err := RunDEF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tuning) != 1 || len(res.Tuning[0].Trials) != 2 {
		t.Fatalf("tuning: %+v", res.Tuning)
	}
	tr := res.Tuning[0]
	if tr.BestLR < TuneLRRange[0] || tr.BestLR > TuneLRRange[1] || res.Routines[0].LR != tr.BestLR {
		t.Fatalf("best lr %g not used or out of range (final run lr %g)", tr.BestLR, res.Routines[0].LR)
	}
}

// TestDEFDataDirUnknownWordsAndErrors: with -data DIR, a description word training never saw is
// read as <unk> (the run completes and says how many there were, naming the file), and every
// data error names the file at fault.
func TestDEFDataDirUnknownWordsAndErrors(t *testing.T) {
	gen := rpn.DefaultGenConfig(rpn.Basic)
	gen.Train, gen.Val, gen.Test = 16, 4, 4
	s, err := rpn.Generate(gen)
	if err != nil {
		t.Fatal(err)
	}
	// val and test: training examples (every word seen) and one with a word training never saw.
	unseen := rpn.Example{Description: s.Train[0].Description + " zebra", Program: s.Train[0].Program}
	s.Val = append(s.Train[1:5:5], unseen)
	s.Test = append(s.Train[5:9:9], unseen)
	dir := t.TempDir()
	if err := rpn.SaveSplit(dir, s); err != nil {
		t.Fatal(err)
	}
	cfg := QuickDEFConfig()
	cfg.TrainSize, cfg.EvalSize, cfg.Epochs, cfg.Batch, cfg.GradCheck = 0, 0, 1, 8, 0
	cfg.Routines, cfg.DataDir, cfg.OutDir = []string{"baseline"}, dir, t.TempDir()
	var log strings.Builder
	cfg.Log = &log
	res, err := RunDEF(cfg)
	if err != nil {
		t.Fatalf("an unseen word in val/test: %v", err)
	}
	if len(res.Routines) != 1 {
		t.Fatalf("routines: %+v", res.Routines)
	}
	for _, part := range []string{"val", "test"} {
		want := rpn.SplitFile(dir, part) + ": 1 description words not in " + rpn.SplitFile(dir, "train") + ", read as <unk>"
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, log.String())
		}
	}

	// Each bad file is named in the error, and only that one.
	for _, bad := range []struct{ part, text string }{
		{"train", ""},
		{"val", ""},
		{"test", ""},
		{"val", `{"description": "x", "program": "a q +"}`},
		{"test", `{"description": "` + strings.Repeat("a ", 40) + `", "program": "a"}`},
		{"train", `{"description": "` + strings.Repeat("a ", 40) + `", "program": "a"}`},
	} {
		if err := rpn.SaveSplit(dir, s); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(rpn.SplitFile(dir, bad.part), []byte(bad.text), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg.OutDir, cfg.Log = t.TempDir(), nil
		_, err := RunDEF(cfg)
		if err == nil || !strings.Contains(err.Error(), rpn.SplitFile(dir, bad.part)) {
			t.Errorf("%s.jsonl holding %q: %v, want an error naming %s", bad.part, bad.text, err, rpn.SplitFile(dir, bad.part))
		}
		if err != nil {
			rest := strings.ReplaceAll(err.Error(), rpn.SplitFile(dir, bad.part), "FILE")
			for _, other := range []string{".jsonl", "training", "validation", "test data"} {
				if strings.Contains(rest, other) {
					t.Errorf("%s.jsonl holding %q: %v also names %q", bad.part, bad.text, err, other)
				}
			}
		}
	}
}

// stopAfter is a context whose Err reports a cancellation from its (n+1)-th call on. A run asks
// before every training step and before every routine, so it stops at the same point every time.
type stopAfter struct {
	context.Context
	n int
}

func (c *stopAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

// tinyResumeConfig is a tiny rpn-def run of two routines, two steps an epoch, that checkpoints
// at every epoch's end.
func tinyResumeConfig(t *testing.T) DEFConfig {
	cfg := QuickDEFConfig()
	cfg.TrainSize, cfg.EvalSize, cfg.Epochs, cfg.ProxyEpochs, cfg.GradCheck = 128, 32, 2, 1, 4
	cfg.Routines, cfg.CheckpointEvery = []string{"baseline", "def-strong-st"}, time.Nanosecond
	cfg.OutDir, cfg.Log = t.TempDir(), nil
	return cfg
}

// TestRunDEFResumeMatchesUninterrupted interrupts tiny rpn-def runs at fixed points - part way
// through an epoch, after an epoch's data order is drawn, between routines - resumes each until
// it finishes, and gets the uninterrupted run's results.
func TestRunDEFResumeMatchesUninterrupted(t *testing.T) {
	want, err := RunDEF(tinyResumeConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	// Calls to Err: one before each routine, one before each of its 4 steps.
	for _, stops := range [][]int{{2, 3, 4, 2}, {5}} {
		cfg := tinyResumeConfig(t)
		for i, n := range stops {
			cfg.Context, cfg.Resume = &stopAfter{context.Background(), n}, i > 0
			_, err := RunDEF(cfg)
			var in *Interrupted
			if !errors.As(err, &in) || in.Checkpoint != CheckpointPath(cfg.OutDir) {
				t.Fatalf("stops %v, run %d: got %v, want an interruption with its checkpoint", stops, i, err)
			}
		}
		cfg.Context, cfg.Resume = nil, true
		got, err := RunDEF(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if d := DiffResults(want, got); len(d) > 0 {
			t.Errorf("stops %v: the resumed run differs from the uninterrupted one:\n%s", stops, strings.Join(d, "\n"))
		}
		back, err := LoadDEFResults(ResultsPath(cfg.OutDir))
		if err != nil || len(DiffResults(want, back)) > 0 || !back.Complete {
			t.Errorf("stops %v: results.json: %v, %v", stops, err, DiffResults(want, back))
		}
		if _, err := os.Stat(CheckpointPath(cfg.OutDir)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stops %v: the finished run left its checkpoint (%v)", stops, err)
		}
	}
}

// TestRunDEFResumeTuning: a run interrupted during a routine's TPE tuning tunes it again on
// resuming; one interrupted after the tuning keeps it; both end with the uninterrupted run's results.
func TestRunDEFResumeTuning(t *testing.T) {
	tiny := func() DEFConfig {
		cfg := tinyResumeConfig(t)
		cfg.Routines, cfg.TuneTrials, cfg.TuneEpochs = []string{"baseline"}, 2, 1
		return cfg
	}
	want, err := RunDEF(tiny())
	if err != nil {
		t.Fatal(err)
	}
	// Calls to Err: one before the routine, 2 steps per trial, then 4 steps of the routine.
	cfg := tiny()
	for i, n := range []int{2, 5} {
		cfg.Context, cfg.Resume = &stopAfter{context.Background(), n}, i > 0
		if _, err := RunDEF(cfg); !errors.Is(err, ErrInterrupted) {
			t.Fatalf("run %d: got %v, want an interruption", i, err)
		}
	}
	cfg.Context = nil
	got, err := RunDEF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := DiffResults(want, got); len(d) > 0 || len(got.Tuning) != 1 {
		t.Errorf("the resumed run differs from the uninterrupted one:\n%s", strings.Join(d, "\n"))
	}
}

// TestRunDEFCheckpointErrors: a run refuses to start over an unfinished run's checkpoint without
// Resume, and a resume with other settings or from a corrupt file is an error naming what is wrong.
func TestRunDEFCheckpointErrors(t *testing.T) {
	cfg := tinyResumeConfig(t)
	cfg.Routines = []string{"baseline"}
	var log strings.Builder
	cfg.Log, cfg.Resume, cfg.Context = &log, true, &stopAfter{context.Background(), 2}
	if _, err := RunDEF(cfg); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("got %v, want an interruption", err)
	}
	if l := log.String(); !strings.Contains(l, "nothing to resume in "+cfg.OutDir) || !strings.Contains(l, "starting afresh") {
		t.Errorf("a resume without a checkpoint does not say it starts afresh:\n%s", log.String())
	}
	cfg.Log, cfg.Context = nil, nil
	for _, c := range []struct {
		change func(c *DEFConfig)
		want   string
	}{
		{func(c *DEFConfig) { c.Resume = false }, "add -resume to continue it, or delete the file"},
		{func(c *DEFConfig) { c.LR = 1e-3 }, "lr: 0.002 != 0.001"},
		{func(c *DEFConfig) { c.Epochs, c.Seed = 3, 2 }, "epochs: 2 != 3"},
	} {
		other := cfg
		c.change(&other)
		if _, err := RunDEF(other); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error saying %q", err, c.want)
		}
	}
	if err := os.WriteFile(CheckpointPath(cfg.OutDir), []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := RunDEF(cfg); err == nil || !strings.Contains(err.Error(), CheckpointPath(cfg.OutDir)+" is corrupt") {
		t.Errorf("corrupt checkpoint: got %v", err)
	}
}

package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/execfeed/execfeed/lib/rpn"
)

func TestSpreadOf(t *testing.T) {
	s := SpreadOf([]float64{0.5, 0.7, 0.9})
	if math.Abs(s.Mean-0.7) > 1e-12 || math.Abs(s.Std-0.2) > 1e-12 || s.Min != 0.5 || s.Max != 0.9 {
		t.Fatalf("SpreadOf(0.5, 0.7, 0.9) = %+v, want mean 0.7, std 0.2, min 0.5, max 0.9", s)
	}
	if one := SpreadOf([]float64{0.3}); one.Std != 0 || one.Mean != 0.3 {
		t.Fatalf("one seed: %+v", one)
	}
}

func TestSplitExamples(t *testing.T) {
	full, err := rpn.Generate(rpn.DefaultGenConfig(rpn.Basic))
	if err != nil {
		t.Fatal(err)
	}
	if n := DescriptionSteps(rpn.Example{Description: "add a and b , then multiply by c , then minus 2"}); n != 3 {
		t.Fatalf("3-step description counted as %d", n)
	}
	sp, err := SplitExamples(SplitLength, full)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append(sp.Train, sp.Val...) {
		if DescriptionSteps(e) > 2 {
			t.Fatalf("length split trains or validates on %q", e.Description)
		}
	}
	maxTrain, minTest := 0, 100
	for _, e := range sp.Train {
		maxTrain = max(maxTrain, len(e.ProgramTokens()))
	}
	for _, e := range sp.Test {
		if DescriptionSteps(e) != 3 {
			t.Fatalf("length split tests on %q", e.Description)
		}
		minTest = min(minTest, len(e.ProgramTokens()))
	}
	// Step weights 0.2/0.4/0.4: ~60 % of the examples have 1-2 steps.
	if len(sp.Train) < 4000 || len(sp.Train) > 5500 || len(sp.Test) < 300 || len(sp.Test) > 500 {
		t.Fatalf("length split sizes %d/%d/%d", len(sp.Train), len(sp.Val), len(sp.Test))
	}
	if maxTrain != 7 || minTest != 7 {
		t.Fatalf("longest training program %d tokens, shortest test program %d (want 7 and 7: 2 steps with a sub-expression vs 3 plain steps)", maxTrain, minTest)
	}
	if _, err := SplitExamples("nope", full); err == nil {
		t.Fatal("unknown split accepted")
	}
	if got := repeatTo(full.Train[:3], 7); len(got) != 9 || got[3] != full.Train[0] {
		t.Fatalf("repeatTo(3 examples, 7) has %d", len(got))
	}
}

// TestRunDEFSizes runs a tiny sweep and checks what it records: every (split, size, seed,
// routine), the fixed step budget, the seeds' summaries, both executors' gradient quality, the
// files; and that the baseline's numbers do not depend on which other routines run.
func TestRunDEFSizes(t *testing.T) {
	cfg := QuickSweepConfig()
	cfg.Sizes, cfg.LengthSizes, cfg.Seeds, cfg.Steps, cfg.EpochExamples, cfg.EvalSize, cfg.GradCheck = []int{64, 128}, []int{64}, []int64{1, 2}, 4, 128, 16, 4
	cfg.OutDir, cfg.Log = t.TempDir(), nil
	res, err := RunDEFSizes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || len(res.Runs) != 3*2*3 || len(res.Points) != 3*3 || len(res.Gradients) != 2 {
		t.Fatalf("%d runs, %d points, %d gradient reports, complete %v", len(res.Runs), len(res.Points), len(res.Gradients), res.Complete)
	}
	for _, r := range res.Runs {
		if r.Steps != 4 || r.Epochs != 2 || r.BestValEpoch < 1 || r.BestValEpoch > r.Epochs || r.Test.N != 16 || !(r.FinalCE > 0) {
			t.Fatalf("run %+v", r)
		}
		if want := r.Curve[r.BestValEpoch-1].Test; r.Test != want {
			t.Fatalf("%s n=%d: test %+v is not the best-validation epoch's %+v", r.Routine, r.Size, r.Test, want)
		}
		if (r.Routine != "baseline") != (r.FinalMSE > 0) {
			t.Fatalf("%s: final MSE %v", r.Routine, r.FinalMSE)
		}
	}
	for _, p := range res.Points {
		if p.Seeds != 2 || p.Functional.Min > p.Functional.Mean || p.Functional.Mean > p.Functional.Max {
			t.Fatalf("point %+v", p)
		}
	}
	for _, g := range res.Gradients {
		if math.Abs(g.Exact.MeanCosine-1) > 1e-5 || g.Exact.SignAgreement != 1 || g.Proxy.MeanCosine > 0.9 || g.Proxy.Directions != g.Exact.Directions {
			t.Fatalf("seed %d gradient quality: proxy %+v, exact %+v", g.Seed, g.Proxy, g.Exact)
		}
	}
	b, err := os.ReadFile(filepath.Join(cfg.OutDir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back SweepResults
	if err := json.Unmarshal(b, &back); err != nil || len(back.Runs) != len(res.Runs) || !back.Quick {
		t.Fatalf("results.json: %v", err)
	}
	for _, name := range []string{"accuracy.svg", "length.svg"} {
		svg, err := os.ReadFile(filepath.Join(cfg.OutDir, name))
		if err != nil || !strings.HasPrefix(string(svg), "<svg") || !strings.Contains(string(svg), "def-exact functional") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Merging the results split in two parts (one run in both) gives back the same points.
	first, second := *res, *res
	first.Runs, second.Runs = res.Runs[:10], res.Runs[9:]
	merged, err := MergeSweeps(&first, &second)
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Runs) != len(res.Runs) || !reflect.DeepEqual(merged.Points, res.Points) {
		t.Fatalf("merged %d runs, points equal %v", len(merged.Runs), reflect.DeepEqual(merged.Points, res.Points))
	}
	second.Runs = slices.Clone(res.Runs[9:])
	second.Runs[0].Test.Exact += 0.5
	if _, err := MergeSweeps(&first, &second); err == nil {
		t.Fatal("merged two different results for one run")
	}
	second.Runs, second.Config.Steps = res.Runs[9:], 5
	if _, err := MergeSweeps(&first, &second); err == nil {
		t.Fatal("merged runs of different step budgets")
	}
	if back, err := LoadSweep(filepath.Join(cfg.OutDir, "results.json")); err != nil || len(back.Points) != len(res.Points) {
		t.Fatalf("LoadSweep: %v", err)
	}
	// The baseline alone: the same numbers, run for run.
	alone := cfg
	alone.Routines, alone.Splits, alone.GradCheck, alone.OutDir = []string{"baseline"}, []string{SplitIID}, 0, t.TempDir()
	res2, err := RunDEFSizes(alone)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for _, r := range res.Runs {
		if r.Routine != "baseline" || r.Split != SplitIID {
			continue
		}
		o := res2.Runs[i]
		i++
		if o.Size != r.Size || o.Seed != r.Seed || !reflect.DeepEqual(stripTimes(o.Curve), stripTimes(r.Curve)) {
			t.Fatalf("baseline n=%d seed %d differs when it runs alone:\n%+v\n%+v", r.Size, r.Seed, o.Curve, r.Curve)
		}
	}
	if i != len(res2.Runs) || i != 4 {
		t.Fatalf("compared %d baseline runs of %d", i, len(res2.Runs))
	}
}

func stripTimes(c []EpochRecord) []EpochRecord {
	out := make([]EpochRecord, len(c))
	for i, e := range c {
		e.Seconds = 0
		out[i] = e
	}
	return out
}

// TestDEFExactLeavesOtherRoutinesAlone: adding def-exact to rpn-def (first, even) changes nothing
// about baseline and def: same losses and accuracies, epoch for epoch.
func TestDEFExactLeavesOtherRoutinesAlone(t *testing.T) {
	cfg := QuickDEFConfig()
	cfg.TrainSize, cfg.EvalSize, cfg.Epochs, cfg.ProxyEpochs, cfg.GradCheck = 128, 16, 2, 1, 0
	cfg.Routines, cfg.OutDir, cfg.Log = []string{"baseline", "def"}, t.TempDir(), nil
	a, err := RunDEF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Routines, cfg.OutDir = []string{"def-exact", "baseline", "def"}, t.TempDir()
	b, err := RunDEF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b.Routines[0].Name != "def-exact" || !b.Routines[0].Exact || !(b.Routines[0].Epochs[0].MSE > 0) {
		t.Fatalf("def-exact: %+v", b.Routines[0])
	}
	for i, r := range a.Routines {
		if !reflect.DeepEqual(stripTimes(r.Epochs), stripTimes(b.Routines[i+1].Epochs)) {
			t.Fatalf("%s changed when def-exact ran first:\n%+v\n%+v", r.Name, r.Epochs, b.Routines[i+1].Epochs)
		}
	}
	cfg.Routines, cfg.Dialect = []string{"def-exact"}, rpn.Ext
	if _, err := RunDEF(cfg); err == nil || !strings.Contains(err.Error(), "basic dialect") {
		t.Fatalf("def-exact on rpn-ext: %v", err)
	}
}

func TestSweepConfigChecks(t *testing.T) {
	for name, change := range map[string]func(c *SweepConfig){
		"diagnose without gradient check": func(c *SweepConfig) { c.Diagnose, c.GradCheck = true, 0 },
		"size below one batch":            func(c *SweepConfig) { c.Sizes = []int{10} },
		"unknown split":                   func(c *SweepConfig) { c.Splits = []string{"nope"} },
		"routine twice":                   func(c *SweepConfig) { c.Routines = []string{"def", "def"} },
		"no length sizes":                 func(c *SweepConfig) { c.LengthSizes = nil },
	} {
		cfg := QuickSweepConfig()
		change(&cfg)
		if err := cfg.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := QuickSweepConfig().check(); err != nil {
		t.Fatalf("quick preset: %v", err)
	}
}

// TestRunDEFSizesResumeMatchesUninterrupted interrupts a tiny sweep at fixed points - part way
// through a DEF run (its seed's proxy then comes from the checkpoint), between two seeds, part way
// through the next seed's first run - resumes it each time, and gets the uninterrupted sweep's
// results.
func TestRunDEFSizesResumeMatchesUninterrupted(t *testing.T) {
	tiny := func() SweepConfig {
		cfg := QuickSweepConfig()
		cfg.Sizes, cfg.LengthSizes, cfg.Seeds, cfg.Steps, cfg.EpochExamples, cfg.EvalSize, cfg.GradCheck = []int{64}, []int{64}, []int64{1, 2}, 4, 128, 16, 4
		cfg.Routines, cfg.OutDir, cfg.Log, cfg.CheckpointEvery = []string{"baseline", "def"}, t.TempDir(), nil, time.Nanosecond
		return cfg
	}
	want, err := RunDEFSizes(tiny())
	if err != nil {
		t.Fatal(err)
	}
	// Calls to Err: one before each seed, one before each of a run's 4 steps (4 runs a seed).
	cfg := tiny()
	for i, n := range []int{6, 12, 3} {
		cfg.Context, cfg.Resume = &stopAfter{context.Background(), n}, i > 0
		_, err := RunDEFSizes(cfg)
		var in *Interrupted
		if !errors.As(err, &in) || in.Checkpoint != CheckpointPath(cfg.OutDir) {
			t.Fatalf("run %d: got %v, want an interruption with its checkpoint", i, err)
		}
	}
	cfg.Context, cfg.Resume = nil, true
	got, err := RunDEFSizes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := DiffResults(want, got); len(d) > 0 || !got.Complete {
		t.Errorf("the resumed sweep differs from the uninterrupted one (complete %v):\n%s", got.Complete, strings.Join(d, "\n"))
	}
	if _, err := os.Stat(CheckpointPath(cfg.OutDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the finished sweep left its checkpoint (%v)", err)
	}
}

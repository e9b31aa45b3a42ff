package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/execfeed/execfeed/lib/experiment"
)

func init() {
	registerExperiment(experimentCmd{name: "rpn-def-sizes",
		summary: "seed 000's question where CE has room: accuracy vs training-set size for CE, DEF (learned proxy), DEF (exact executor)",
		flags:   defSizesFlags})
}

func defSizesFlags(c *cli) func() error {
	full, quick := experiment.DefaultSweepConfig(), experiment.QuickSweepConfig()
	common := newCommonFlags(c, "rpn-def-sizes", func(q bool) string {
		if q {
			return quick.OutDir
		}
		return full.OutDir
	}, "iid sizes 100 and 400, length 100, 2 seeds, 20 steps")
	strs := func(xs []int) []string {
		out := make([]string, len(xs))
		for i, x := range xs {
			out[i] = strconv.Itoa(x)
		}
		return out
	}
	var seedStrs []string
	for _, s := range full.Seeds {
		seedStrs = append(seedStrs, strconv.FormatInt(s, 10))
	}
	known := slices.Sorted(func(yield func(string) bool) {
		for name := range experiment.Routines(full.Lambda) {
			if !yield(name) {
				return
			}
		}
	})
	routines := c.list("routines", full.Routines, known, "routines to train at every size, comma-separated")
	splits := c.list("splits", full.Splits, []string{experiment.SplitIID, experiment.SplitLength}, "splits: iid (seed 000's) and length (train on 1-2 steps, test on 3)")
	sizes := c.list("sizes", strs(full.Sizes), nil, "training-set sizes of the iid split, comma-separated (0: all of it)")
	lengthSizes := c.list("length-sizes", strs(full.LengthSizes), nil, "training-set sizes of the length split, comma-separated (0: all of it)")
	seeds := c.list("seeds", seedStrs, nil, "model seeds, comma-separated")
	steps := c.int("steps", full.Steps, 1, fmt.Sprintf("optimizer steps per run at every size (quick: %d)", quick.Steps))
	epochExamples := c.int("epoch-examples", full.EpochExamples, 0, "repeat a small training set up to this many examples per epoch (evaluation after each)")
	evalSize := c.int("eval-size", full.EvalSize, 0, fmt.Sprintf("validation and test examples per split, 0: all (quick: %d)", quick.EvalSize))
	dataSeed := c.uint64("data-seed", full.DataSeed, "data generator seed")
	lr := c.float("lr", full.LR, true, "generator learning rate")
	lambda := c.float("lambda", full.Lambda, true, "DEF weight λ (seed 000's tuned value)")
	proxyEpochs := c.int("proxy-epochs", full.ProxyEpochs, 1, fmt.Sprintf("proxy pre-training epochs per seed (quick: %d)", quick.ProxyEpochs))
	merge := c.list("merge", nil, nil, "results.json files of rpn-def-sizes runs of one recipe (other routines, sizes or seeds) to combine into one table and figure in -out; no training")
	c.conflict("merge", "resume")
	diagnose := c.bool("diagnose", "only the per-seed measurements: proxy, gradient quality, and the norms of DEF's two gradients before and after CE training; no sizes")
	gradCheck := c.int("grad-check", full.GradCheck, 0, fmt.Sprintf("validation programs for the gradient-quality check, 0 skips it (quick: %d)", quick.GradCheck))
	return func() error {
		cfg := full
		if *common.quick {
			cfg = quick
		}
		cfg.Routines, cfg.Splits, cfg.DataSeed, cfg.LR, cfg.Lambda = *routines, *splits, *dataSeed, *lr, *lambda
		cfg.Backend, cfg.Command, cfg.Diagnose = *common.backend, os.Args, *diagnose
		for _, o := range []struct {
			name string
			v    []string
			into *[]int
		}{{"sizes", *sizes, &cfg.Sizes}, {"length-sizes", *lengthSizes, &cfg.LengthSizes}} {
			if !c.set(o.name) {
				continue
			}
			n, err := ints(o.name, o.v)
			if err != nil {
				return err
			}
			*o.into = nil
			for _, x := range n {
				*o.into = append(*o.into, int(x))
			}
		}
		if c.set("seeds") {
			n, err := ints("seeds", *seeds)
			if err != nil {
				return err
			}
			cfg.Seeds = n
		}
		for _, o := range []struct {
			name string
			v    int
			into *int
		}{{"steps", *steps, &cfg.Steps}, {"epoch-examples", *epochExamples, &cfg.EpochExamples}, {"eval-size", *evalSize, &cfg.EvalSize},
			{"proxy-epochs", *proxyEpochs, &cfg.ProxyEpochs}, {"grad-check", *gradCheck, &cfg.GradCheck}} {
			if c.set(o.name) {
				*o.into = o.v
			}
		}
		var err error
		if cfg.OutDir, err = common.prepare(); err != nil {
			return err
		}
		if len(*merge) > 0 {
			var parts []*experiment.SweepResults
			for _, path := range *merge {
				p, err := experiment.LoadSweep(path)
				if err != nil {
					return err
				}
				parts = append(parts, p)
			}
			res, err := experiment.MergeSweeps(parts...)
			if err != nil {
				return err
			}
			res.Command = os.Args
			if err := experiment.WriteSweep(cfg.OutDir, res); err != nil {
				return err
			}
			printSweep(res, cfg.OutDir)
			return nil
		}
		cfg.LongRun = common.longRun()
		return execute(func(ctx context.Context) (*experiment.SweepResults, error) {
			cfg.Context = ctx
			return experiment.RunDEFSizes(cfg)
		}, func(res *experiment.SweepResults) { printSweep(res, cfg.OutDir) })
	}
}

// printSweep prints a sweep's table and gradient measurements, and where its results went.
func printSweep(res *experiment.SweepResults, dir string) {
	header, rows := experiment.SweepTable(res)
	printTable(header, rows)
	for _, g := range res.Gradients {
		fmt.Printf("seed %d: proxy MSE %.0f (output variance %.0f); gradient vs interpreter: proxy cosine %.3f sign %.1f%%, exact cosine %.3f sign %.1f%% (%d directions)\n",
			g.Seed, g.ProxyMSE, g.ProxyVar, g.Proxy.MeanCosine, 100*g.Proxy.SignAgreement, g.Exact.MeanCosine, 100*g.Exact.SignAgreement, g.Proxy.Directions)
		for _, st := range g.Terms {
			fmt.Printf("seed %d after %d CE steps: ‖∇CE‖ %.3g; λ‖∇MSE‖/‖∇CE‖ proxy %.3g, exact %.3g, exact straight-through %.3g\n",
				g.Seed, st.CESteps, st.CE, st.RatioPx, st.RatioEx, st.RatioEST)
		}
	}
	fmt.Printf("wrote %s/results.json and the plots (%.0fs)\n", dir, res.Seconds)
}

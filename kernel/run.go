package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/execfeed/execfeed/lib/experiment"
	"github.com/execfeed/execfeed/lib/rpn"
)

func init() {
	register(command{name: "run", summary: "run a documented experiment (rpn-def, rpn-coderl, rpn-eta, rpn-egca, py-grpo)", run: runExperiment})
}

func runExperiment(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("usage: kernel run EXPERIMENT [flags]; experiments: rpn-def, %s", strings.Join(experiment.RLExperiments, ", "))
	}
	name, args := args[0], args[1:]
	switch name {
	case "rpn-def":
		return runDEF(args)
	}
	if slices.Contains(experiment.RLExperiments, name) {
		return runRL(name, args)
	}
	return fmt.Errorf("unknown experiment %q (known: rpn-def, %s)", name, strings.Join(experiment.RLExperiments, ", "))
}

func runDEF(args []string) error {
	fs := flag.NewFlagSet("run rpn-def", flag.ContinueOnError)
	quick := fs.Bool("quick", os.Getenv("EXECFEED_QUICK") == "1", "one-minute smoke run (512 training examples, 2 epochs); default true when EXECFEED_QUICK=1")
	preset := experiment.DefaultDEFConfig() // the fields below are the same in the quick preset
	epochs := fs.Int("epochs", 0, "generator epochs per routine (default 20; quick 2)")
	seed := fs.Int64("seed", preset.Seed, "model seed")
	dataSeed := fs.Uint64("data-seed", preset.DataSeed, "data generator seed")
	dataDir := fs.String("data", "", "directory with train/val/test.jsonl to use instead of generated data")
	dialect := fs.String("dialect", "rpn", "rpn or rpn-ext")
	out := fs.String("out", preset.OutDir, "output folder for results.json and accuracy.svg")
	backend := fs.String("backend", "", "compute backend: go (default) or xla:/abs/path/plugin.so; default $GOMLX_BACKEND")
	routines := fs.String("routines", strings.Join(preset.Routines, ","), "routines to train: baseline, def, def-strong, def-strong-st, def-strong-warmup")
	lr := fs.Float64("lr", preset.LR, "generator learning rate")
	lambda := fs.Float64("lambda", preset.Lambda, "DEF weight λ (seed 000's tuned value 0.00039)")
	proxyEpochs := fs.Int("proxy-epochs", 0, "proxy pre-training epochs (default 10; quick 2)")
	trainSize := fs.Int("train-size", -1, "use only this many training examples (default all; quick 512)")
	gradCheck := fs.Int("grad-check", -1, "programs for the proxy gradient-quality check (0 skips)")
	tune := fs.Int("tune", 0, "TPE trials per routine over lr (and λ) before the final run, as seed 000 (0: no tuning)")
	tuneEpochs := fs.Int("tune-epochs", 0, "epochs per tuning trial (default epochs/4)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := experiment.DefaultDEFConfig()
	if *quick {
		cfg = experiment.QuickDEFConfig()
	}
	d, err := rpn.ParseDialect(*dialect)
	if err != nil {
		return err
	}
	cfg.Dialect, cfg.Seed, cfg.DataSeed, cfg.DataDir, cfg.OutDir, cfg.Backend = d, *seed, *dataSeed, *dataDir, *out, *backend
	cfg.Routines, cfg.LR, cfg.Lambda = strings.Split(*routines, ","), *lr, *lambda
	if *epochs > 0 {
		cfg.Epochs = *epochs
	}
	if *proxyEpochs > 0 {
		cfg.ProxyEpochs = *proxyEpochs
	}
	if *trainSize >= 0 {
		cfg.TrainSize = *trainSize
	}
	if *gradCheck >= 0 {
		cfg.GradCheck = *gradCheck
	}
	cfg.TuneTrials, cfg.TuneEpochs = *tune, *tuneEpochs
	res, err := experiment.RunDEF(cfg)
	if err != nil {
		return err
	}
	header, rows := experiment.DEFTable(res)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	for _, t := range res.Tuning {
		fmt.Printf("tuning %s: best val exact %.2f%% (lr %.2e, λ %.2e) over %d trials\n", t.Routine, 100*t.BestValAcc, t.BestLR, t.BestLambda, len(t.Trials))
	}
	if res.ProxyMSE > 0 {
		fmt.Printf("proxy held-out MSE %.2f (seed 000: 28.8; output variance %.1f)\n", res.ProxyMSE, res.ProxyVar)
	}
	if g := res.Gradient; g != nil {
		fmt.Printf("proxy gradient vs true executor: mean cosine %.3f, sign agreement %.1f%% (%d programs)\n", g.MeanCosine, 100*g.SignAgreement, g.Programs)
	}
	fmt.Printf("wrote %s/results.json and %s/accuracy.svg (%.0fs)\n", cfg.OutDir, cfg.OutDir, res.Seconds)
	return nil
}

func runRL(name string, args []string) error {
	fs := flag.NewFlagSet("run "+name, flag.ContinueOnError)
	quick := fs.Bool("quick", os.Getenv("EXECFEED_QUICK") == "1", "smoke run (tiny data, 4 iterations, one seed); default true when EXECFEED_QUICK=1")
	preset, err := experiment.DefaultRLConfig(name)
	if err != nil {
		return err
	}
	methods := fs.String("methods", strings.Join(preset.Methods, ","), "methods to compare: sft, reinforce, reinforce+critic, reinforce+critic+struct, ppo, eta-dpo, grpo, egca")
	seeds := fs.String("seeds", "", "comma-separated model seeds (default 1,2,3; quick 1)")
	iters := fs.Int("iters", 0, "RL iterations per method (default 300; quick 4)")
	sftSize := fs.Int("sft-size", 0, "labelled examples for the supervised start (default 300)")
	promptSize := fs.Int("prompts", 0, "RL prompts: descriptions with unit tests (default 2000)")
	evalSize := fs.Int("eval-size", 0, "test prompts (default 300)")
	samples := fs.Int("samples", 0, "samples per test prompt for pass@k (default 10)")
	dataSeed := fs.Uint64("data-seed", preset.DataSeed, "data generator seed")
	out := fs.String("out", preset.OutDir, "output folder for results.json and curves.svg")
	backend := fs.String("backend", "", "compute backend: go (default) or xla:/abs/path/plugin.so; default $GOMLX_BACKEND")
	workers := fs.Int("workers", 0, "Python sandbox processes (py-* experiments; default: the cores, at most 4)")
	execURLs := fs.String("exec", "", "run Python programs on these execution servers (URL[,URL...]: kernel serve or SandboxFusion) instead of local workers")
	loss := fs.String("loss", "", "GRPO loss normalisation for grpo/egca: sum (default), grpo, dr_grpo, dapo")
	scale := fs.String("scale", "", "GRPO advantage scaling: group (default), batch, none")
	epsHigh := fs.Float64("eps-high", 0, "GRPO upper ratio clip 1+eps-high (DAPO's clip-higher, e.g. 0.28; 0: symmetric)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags go after the experiment's name)", fs.Args())
	}
	if *workers < 0 || *epsHigh < 0 {
		return fmt.Errorf("-workers %d and -eps-high %g must not be negative", *workers, *epsHigh)
	}
	cfg := preset
	if *quick {
		if cfg, err = experiment.QuickRLConfig(name); err != nil {
			return err
		}
	}
	cfg.Methods, cfg.DataSeed, cfg.OutDir, cfg.Backend, cfg.Log = strings.Split(*methods, ","), *dataSeed, *out, *backend, os.Stderr
	cfg.Workers, cfg.Exec, cfg.GRPOLoss, cfg.GRPOScale, cfg.EpsHigh = *workers, *execURLs, *loss, *scale, *epsHigh
	if *seeds != "" {
		cfg.Seeds = nil
		for _, f := range strings.Split(*seeds, ",") {
			s, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return fmt.Errorf("-seeds: %w", err)
			}
			cfg.Seeds = append(cfg.Seeds, s)
		}
	}
	for _, o := range []struct {
		flag int
		into *int
	}{{*iters, &cfg.Iters}, {*sftSize, &cfg.SFTSize}, {*promptSize, &cfg.PromptSize}, {*evalSize, &cfg.EvalSize}, {*samples, &cfg.Samples}} {
		if o.flag > 0 {
			*o.into = o.flag
		}
	}
	res, err := experiment.RunRL(cfg)
	if err != nil {
		return err
	}
	header, rows := experiment.RLTable(res)
	fmt.Printf("%s: test metrics in %%, mean ± std over %d seed(s)\n", name, len(cfg.Seeds))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	if o := res.EGCAOverhead; o != nil {
		var loc []string
		for _, r := range res.Runs {
			if r.Method == "egca" {
				loc = append(loc, fmt.Sprintf("%.1f%%", 100*r.Means["egca_localised"]))
			}
		}
		fmt.Printf("EGCA wall-clock overhead over GRPO: %+.1f%% (seed 003: +18%%); samples localised per seed: %s\n",
			100**o, strings.Join(loc, ", "))
	}
	fmt.Printf("wrote %s/results.json and %s/curves.svg (%.0fs)\n", cfg.OutDir, cfg.OutDir, res.Seconds)
	return nil
}

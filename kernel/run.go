package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/execfeed/execfeed/lib/experiment"
	"github.com/execfeed/execfeed/lib/rpn"
)

func init() {
	register(command{name: "run", summary: "run a documented experiment (kernel run -h lists them with their flags), or rerun one from its results.json", run: runExperiment})
	registerExperiment(experimentCmd{name: "rpn-def", summary: "seed 000: CE baseline vs Differentiable Execution Feedback", flags: defFlags})
	for _, name := range experiment.RLExperiments {
		registerExperiment(experimentCmd{name: name, summary: rlSummaries[name], flags: func(c *cli) func() error { return rlFlags(name, c) }})
	}
}

// experimentCmd is one experiment `kernel run` knows.
type experimentCmd struct {
	name, summary string
	// flags declares the experiment's flags on c and returns what runs the experiment once they
	// are parsed and checked.
	flags func(c *cli) (run func() error)
}

// experimentCmds are the experiments in the order help lists them.
var experimentCmds []experimentCmd

// registerExperiment adds an experiment to `kernel run`.
func registerExperiment(e experimentCmd) {
	if slices.ContainsFunc(experimentCmds, func(x experimentCmd) bool { return x.name == e.name }) {
		panic("kernel: experiment registered twice: " + e.name)
	}
	experimentCmds = append(experimentCmds, e)
}

var rlSummaries = map[string]string{
	"rpn-coderl": "seed 004: REINFORCE, with a critic, with structure rewards (RPN)",
	"rpn-eta":    "seed 001: binary-reward PPO vs execution-trace DPO (RPN)",
	"rpn-egca":   "seed 003: GRPO vs execution-grounded credit assignment (RPN)",
	"py-grpo":    "seed 003 on the synthetic Python task family: GRPO vs EGCA",
	"py-coderl":  "seed 004 with the transformer on Python: REINFORCE, with a critic, with AST/DFG rewards",
	"py-eta":     "seed 001 with the transformer on Python: SFT vs PPO vs ETA-DPO (-model DIR -problems FILE: the seed's HumanEval set-up)",
	"py-egca":    "seed 003 with the transformer on Python: GRPO vs EGCA",
}

// beforeTraining is called once flags are parsed and checked, just before an experiment starts
// (tests replace it to stop there).
var beforeTraining = func() error { return nil }

func experimentNames() []string {
	var names []string
	for _, e := range experimentCmds {
		names = append(names, e.name)
	}
	return names
}

// runUsage writes `kernel run`'s help: the forms, then every experiment with its flags.
func runUsage(w io.Writer) {
	fmt.Fprintf(w, `usage: kernel run EXPERIMENT [flags]
       kernel run -from results.json [-out DIR]
       kernel run -resume DIR

Runs a documented experiment, writing results.json, a plot, manifest.json (what ran, its status)
and checkpoints to its output folder (out/EXPERIMENT; out/EXPERIMENT-quick with -quick); or reruns
the configuration a results.json records and reports whether every number came out the same; or
continues an interrupted or killed run with the flags its manifest records (-resume DIR). The
first Ctrl-C saves a checkpoint and stops; a second quits at once. kernel runs lists the runs.

`)
	for _, e := range experimentCmds {
		c := newCLI("run " + e.name)
		e.flags(c)
		fmt.Fprintf(w, "%s: %s\n", e.name, e.summary)
		c.printDefaults(w)
		fmt.Fprintln(w)
	}
	c := newCLI("run")
	fromFlags(c)
	fmt.Fprintln(w, "-from:")
	c.printDefaults(w)
}

func runExperiment(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: kernel run EXPERIMENT [flags]; experiments: %s (kernel run -h for their flags)", strings.Join(experimentNames(), ", "))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		runUsage(os.Stdout)
		return flag.ErrHelp
	}
	if strings.HasPrefix(args[0], "-") {
		c := newCLI("run")
		run := fromFlags(c)
		if err := parseOrHelp(c, args, runUsage); err != nil {
			return err
		}
		return finishRun(run())
	}
	i := slices.IndexFunc(experimentCmds, func(e experimentCmd) bool { return e.name == args[0] })
	if i < 0 {
		return fmt.Errorf("unknown experiment %q (known: %s)", args[0], strings.Join(experimentNames(), ", "))
	}
	e := experimentCmds[i]
	c := newCLI("run " + e.name)
	run := e.flags(c)
	if err := parseOrHelp(c, args[1:], func(w io.Writer) {
		fmt.Fprintf(w, "usage: kernel run %s [flags]\n\n%s\n\n", e.name, e.summary)
		c.printDefaults(w)
	}); err != nil {
		if c.fs.NArg() > 0 && c.set("resume") {
			err = fmt.Errorf("%w (-resume after an experiment's name takes no folder: kernel run -resume DIR continues the run in DIR)", err)
		}
		return err
	}
	return finishRun(run())
}

// parseOrHelp parses args; -h prints usage to stdout and is flag.ErrHelp (exit status 0).
func parseOrHelp(c *cli, args []string, usage func(io.Writer)) error {
	c.fs.SetOutput(io.Discard) // errors are returned and printed once, by main
	c.fs.Usage = func() {}
	err := c.parse(args)
	c.fs.SetOutput(os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		usage(os.Stdout)
	}
	return err
}

// commonFlags are the flags every experiment has: -quick, -out, -backend, -resume and
// -checkpoint-every.
type commonFlags struct {
	quick           *bool
	out             *string
	backend         *string
	resume          *bool
	checkpointEvery *time.Duration
	experiment      string
	defaultOut      func(quick bool) string
	c               *cli
}

func newCommonFlags(c *cli, name string, defaultOut func(quick bool) string, quickWhat string) *commonFlags {
	f := &commonFlags{experiment: name, defaultOut: defaultOut, c: c}
	f.quick = c.bool("quick", "smoke run ("+quickWhat+"): its numbers say nothing about the method; writes to out/"+name+"-quick")
	f.out = c.string("out", "", nil, "output folder for results.json and the plot (default out/"+name+", with -quick out/"+name+"-quick)")
	f.backend = c.string("backend", "", nil, "compute backend: go (default) or xla:/abs/path/plugin.so (needs a build with -tags xla); default $GOMLX_BACKEND")
	f.resume = c.bool("resume", "continue the run whose checkpoint and results are in the output folder (same flags); without -resume an existing checkpoint is an error")
	f.checkpointEvery = c.duration("checkpoint-every", experiment.DefaultCheckpointEvery, true, "interval between checkpoints (one is also saved at the end of every routine and on Ctrl-C)")
	return f
}

// longRun is the experiment's -resume and -checkpoint-every (its context is set by execute).
func (f *commonFlags) longRun() experiment.LongRun {
	return experiment.LongRun{Resume: *f.resume, CheckpointEvery: *f.checkpointEvery}
}

// prepare resolves the output folder and checks the backend and the folder before any training.
func (f *commonFlags) prepare() (string, error) {
	out := f.defaultOut(*f.quick)
	if *f.out != "" {
		out = *f.out
	}
	if err := experiment.CheckBackend(*f.backend); err != nil {
		return "", fmt.Errorf("-backend: %w", err)
	}
	if err := experiment.CheckOutDir(out); err != nil {
		return "", fmt.Errorf("-out: %w", err)
	}
	if *f.quick {
		quickBanner(f.experiment, out)
	}
	if err := beforeTraining(); err != nil {
		return "", err
	}
	m := experiment.NewManifest(f.experiment, *f.quick, os.Args)
	m.Flags = map[string]string{}
	f.c.fs.Visit(func(fl *flag.Flag) { m.Flags[fl.Name] = fl.Value.String() })
	return out, beginRun(out, m, *f.resume)
}

// execute runs an experiment (run) with the context the first Ctrl-C cancels and prints its
// results; it adds to an interrupted run's error the command that resumes it.
func execute[R any](run func(ctx context.Context) (R, error), print func(R)) error {
	ctx, stop := interruptContext()
	defer stop()
	res, err := run(ctx)
	if err != nil {
		return resumeHint(err)
	}
	print(res)
	return nil
}

// active is the run this process is making: its manifest and folder, set by beginRun when the
// run starts, finished by finishRun with the experiment's result.
var active struct {
	m   *experiment.Manifest
	dir string
}

// beginRun records in dir's manifest that the run m starts (experiment.Manifest.Begin).
func beginRun(dir string, m *experiment.Manifest, resume bool) error {
	if err := m.Begin(dir, resume); err != nil {
		return err
	}
	active.m, active.dir = m, dir
	return nil
}

// finishRun records how the active run ended (if one began) and returns err, joined with any
// error writing the manifest.
func finishRun(err error) error {
	m, dir := active.m, active.dir
	if m == nil {
		return err
	}
	active.m = nil
	if werr := m.Finish(dir, err); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// quickBanner says loudly that a run is a quick one.
func quickBanner(name, out string) {
	fmt.Fprintf(os.Stderr, "*** QUICK RUN of %s: smoke-test sizes, numbers say nothing about the method; results go to %s ***\n", name, out)
}

func defFlags(c *cli) func() error {
	full, quick := experiment.DefaultDEFConfig(), experiment.QuickDEFConfig()
	common := newCommonFlags(c, "rpn-def", func(q bool) string {
		if q {
			return quick.OutDir
		}
		return full.OutDir
	}, "512 training examples, 2 epochs")
	known := slices.Sorted(func(yield func(string) bool) {
		for name := range experiment.Routines(full.Lambda) {
			if !yield(name) {
				return
			}
		}
	})
	routines := c.list("routines", full.Routines, known, "routines to train, comma-separated")
	epochs := c.int("epochs", full.Epochs, 1, fmt.Sprintf("generator epochs per routine (quick: %d)", quick.Epochs))
	seed := c.int64("seed", full.Seed, "model seed")
	dataSeed := c.uint64("data-seed", full.DataSeed, "data generator seed (not with -data)")
	dataDir := c.string("data", "", nil, "directory with train/val/test.jsonl to use instead of generated data")
	dialect := c.string("dialect", full.Dialect.String(), []string{"rpn", "rpn-ext"}, "RPN dialect")
	lr := c.float("lr", full.LR, true, "generator learning rate")
	lambda := c.float("lambda", full.Lambda, true, "DEF weight λ (seed 000's tuned value; DEF routines only)")
	proxyEpochs := c.int("proxy-epochs", full.ProxyEpochs, 1, fmt.Sprintf("proxy pre-training epochs (quick: %d; DEF routines only)", quick.ProxyEpochs))
	trainSize := c.int("train-size", 0, 1, fmt.Sprintf("use only this many training examples (default all; quick %d)", quick.TrainSize))
	evalSize := c.int("eval-size", 0, 1, fmt.Sprintf("use only this many validation and test examples (default all; quick %d)", quick.EvalSize))
	gradCheck := c.int("grad-check", full.GradCheck, 0, fmt.Sprintf("programs for the proxy gradient-quality check, 0 skips it (quick: %d; DEF routines only)", quick.GradCheck))
	tune := c.int("tune", 0, 1, "TPE trials per routine over lr (and λ) before the final run, as seed 000 (default: no tuning)")
	tuneEpochs := c.int("tune-epochs", 0, 1, "epochs per tuning trial (default epochs/4; with -tune)")
	c.conflict("data", "data-seed")
	hasDEF := func() bool { return slices.ContainsFunc(*routines, func(r string) bool { return r != "baseline" }) }
	for _, name := range []string{"lambda", "proxy-epochs", "grad-check"} {
		c.require(name, hasDEF, "only matters to DEF routines; -routines has none")
	}
	c.require("tune-epochs", func() bool { return c.set("tune") }, "needs -tune")
	return func() error {
		cfg := full
		if *common.quick {
			cfg = quick
		}
		d, err := rpn.ParseDialect(*dialect)
		if err != nil {
			return err
		}
		cfg.Dialect, cfg.Seed, cfg.DataSeed, cfg.DataDir, cfg.Backend = d, *seed, *dataSeed, *dataDir, *common.backend
		cfg.Routines, cfg.LR, cfg.Lambda, cfg.Command = *routines, *lr, *lambda, os.Args
		cfg.LongRun = common.longRun()
		c.override(map[string]intSetting{"epochs": {*epochs, &cfg.Epochs}, "proxy-epochs": {*proxyEpochs, &cfg.ProxyEpochs},
			"train-size": {*trainSize, &cfg.TrainSize}, "eval-size": {*evalSize, &cfg.EvalSize}, "grad-check": {*gradCheck, &cfg.GradCheck},
			"tune": {*tune, &cfg.TuneTrials}, "tune-epochs": {*tuneEpochs, &cfg.TuneEpochs}})
		if cfg.OutDir, err = common.prepare(); err != nil {
			return err
		}
		return execute(func(ctx context.Context) (*experiment.DEFResults, error) {
			cfg.Context = ctx
			return experiment.RunDEF(cfg)
		}, printDEF)
	}
}

func printDEF(res *experiment.DEFResults) {
	header, rows := experiment.DEFTable(res)
	printTable(header, rows)
	for _, t := range res.Tuning {
		fmt.Printf("tuning %s: best val exact %.2f%% (lr %.2e, λ %.2e) over %d trials\n", t.Routine, 100*t.BestValAcc, t.BestLR, t.BestLambda, len(t.Trials))
	}
	if res.ProxyMSE > 0 {
		fmt.Printf("proxy held-out MSE %.2f (seed 000: 28.8; output variance %.1f)\n", res.ProxyMSE, res.ProxyVar)
	}
	if g := res.Gradient; g != nil {
		fmt.Printf("proxy gradient vs true executor: mean cosine %.3f, sign agreement %.1f%% (%d programs)\n", g.MeanCosine, 100*g.SignAgreement, g.Programs)
	}
	wrote(res.Provenance, res.Config.OutDir, "accuracy.svg", res.Seconds)
}

// wrote reports where the results went, and says again when they are a quick run's.
func wrote(p experiment.Provenance, dir, plot string, seconds float64) {
	fmt.Printf("wrote %s and %s (%.0fs)\n", experiment.ResultsPath(dir), filepath.Join(dir, plot), seconds)
	if p.Quick {
		quickBanner(p.Experiment, dir)
	}
}

func printTable(header []string, rows [][]string) { writeTable(os.Stdout, header, rows) }

// writeTable writes rows under header to w as plain aligned columns.
func writeTable(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func rlFlags(name string, c *cli) func() error {
	full, err := experiment.DefaultRLConfig(name)
	if err != nil {
		panic(err) // name comes from experiment.RLExperiments
	}
	quick, _ := experiment.QuickRLConfig(name)
	common := newCommonFlags(c, name, func(q bool) string {
		if q {
			return quick.OutDir
		}
		return full.OutDir
	}, fmt.Sprintf("%d labelled examples, %d iterations, one seed", quick.SFTSize, quick.Iters))
	family, _ := experiment.RLMethodsOf(name)
	methods := c.list("methods", full.Methods, family, "methods to compare, comma-separated")
	seeds := c.list("seeds", nil, nil, fmt.Sprintf("comma-separated model seeds (default %s; quick %s)", joinInts(full.Seeds), joinInts(quick.Seeds)))
	iters := c.int("iters", full.Iters, 1, fmt.Sprintf("RL iterations per method (quick: %d)", quick.Iters))
	sftSize := c.int("sft-size", full.SFTSize, 1, fmt.Sprintf("labelled examples for the supervised start (quick: %d)", quick.SFTSize))
	promptSize := c.int("prompts", full.PromptSize, 1, fmt.Sprintf("RL prompts: descriptions with unit tests (quick: %d)", quick.PromptSize))
	evalSize := c.int("eval-size", full.EvalSize, 1, fmt.Sprintf("test prompts (quick: %d)", quick.EvalSize))
	samples := c.int("samples", full.Samples, 1, fmt.Sprintf("samples per test prompt for pass@k (quick: %d)", quick.Samples))
	dataSeed := c.uint64("data-seed", full.DataSeed, "data generator seed")
	python := strings.HasPrefix(name, "py-")
	var workers *int
	var execURLs *string
	var mf *modelFlags
	if python {
		workers = c.int("workers", 0, 1, "Python sandbox processes (default: the cores, at most 4)")
		execURLs = c.string("exec", "", nil, "run Python programs on these execution servers (URL[,URL...]: kernel serve or SandboxFusion) instead of local workers")
		c.conflict("workers", "exec")
		mf = pyModelFlags(c, full)
	}
	var loss, scale *string
	var epsHigh *float64
	if slices.Contains(family, "grpo") {
		loss = c.string("loss", "sum", []string{"sum", "grpo", "dr_grpo", "dapo"}, "GRPO loss normalisation for grpo/egca")
		scale = c.string("scale", "group", []string{"group", "batch", "none"}, "GRPO advantage scaling")
		epsHigh = c.float("eps-high", 0, true, "GRPO upper ratio clip 1+eps-high (DAPO's clip-higher, e.g. 0.28; default symmetric)")
		hasGRPO := func() bool {
			return slices.ContainsFunc(*methods, func(m string) bool { return m == "grpo" || m == "egca" })
		}
		for _, f := range []string{"loss", "scale", "eps-high"} {
			c.require(f, hasGRPO, "only matters to grpo and egca; -methods has neither")
		}
	}
	return func() error {
		cfg := full
		if *common.quick {
			cfg = quick
		}
		seedList, err := ints("seeds", *seeds)
		if err != nil {
			return err
		}
		if c.set("seeds") {
			cfg.Seeds = seedList
		}
		cfg.Methods, cfg.DataSeed, cfg.Backend, cfg.Log, cfg.Command = *methods, *dataSeed, *common.backend, os.Stderr, os.Args
		cfg.LongRun = common.longRun()
		if python {
			cfg.Workers, cfg.Exec = *workers, *execURLs
			mf.apply(c, &cfg)
		}
		if loss != nil && c.set("loss") {
			cfg.GRPOLoss = *loss
		}
		if scale != nil && c.set("scale") {
			cfg.GRPOScale = *scale
		}
		if epsHigh != nil {
			cfg.EpsHigh = *epsHigh
		}
		c.override(map[string]intSetting{"iters": {*iters, &cfg.Iters}, "sft-size": {*sftSize, &cfg.SFTSize},
			"prompts": {*promptSize, &cfg.PromptSize}, "eval-size": {*evalSize, &cfg.EvalSize}, "samples": {*samples, &cfg.Samples}})
		if cfg.OutDir, err = common.prepare(); err != nil {
			return err
		}
		return execute(func(ctx context.Context) (*experiment.RLResults, error) {
			cfg.Context = ctx
			return experiment.RunRL(cfg)
		}, printRL)
	}
}

func joinInts(xs []int64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

func printRL(res *experiment.RLResults) {
	fmt.Printf("%s: test metrics in %%, mean ± std over %d seed(s)\n", res.Experiment, len(res.Config.Seeds))
	printTable(experiment.RLTable(res))
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
	wrote(res.Provenance, res.Config.OutDir, "curves.svg", res.Seconds)
}

// fromFlags declares `kernel run -from FILE [-out DIR]` and `kernel run -resume DIR`.
func fromFlags(c *cli) func() error {
	from := c.string("from", "", nil, "results.json of an earlier run: rerun exactly its recorded configuration and compare the numbers")
	out := c.string("out", "", nil, "output folder of the rerun (default: rerun/ beside the results file)")
	resume := c.string("resume", "", nil, "output folder of an interrupted or killed run: continue it from its checkpoint with the flags its manifest.json records")
	c.conflict("from", "resume")
	c.conflict("resume", "out")
	c.checks = append(c.checks, func() error {
		if !c.set("from") && !c.set("resume") {
			return errors.New("flags go after the experiment's name (kernel run EXPERIMENT [flags]), or use -from results.json or -resume DIR")
		}
		return nil
	})
	return func() error {
		if c.set("resume") {
			return resumeRun(*resume)
		}
		dir := *out
		if dir == "" {
			dir = filepath.Join(filepath.Dir(*from), "rerun")
		}
		h, err := experiment.ReadResultsHeader(*from)
		if err != nil {
			return fmt.Errorf("-from: %w", err)
		}
		if a, b := absPath(dir), absPath(filepath.Dir(*from)); a == b {
			return fmt.Errorf("-out: %s holds the results being rerun; choose another folder", dir)
		}
		if err := experiment.CheckOutDir(dir); err != nil {
			return fmt.Errorf("-out: %w", err)
		}
		fmt.Fprintf(os.Stderr, "rerunning %s (%s, commit %s) into %s\n", *from, h.Experiment, h.Build.Revision, dir)
		if h.Quick {
			quickBanner(h.Experiment, dir)
		}
		if err := beforeTraining(); err != nil {
			return err
		}
		m := experiment.NewManifest(h.Experiment, h.Quick, os.Args)
		m.From, m.Flags = *from, map[string]string{"from": *from, "out": dir}
		if err := beginRun(dir, m, false); err != nil {
			return err
		}
		return rerun(*from, dir)
	}
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// rerun reruns the results file from into dir and reports whether every number came out the same.
func rerun(from, dir string) error {
	_, res, diffs, err := experiment.Rerun(from, dir, os.Stderr)
	if err != nil {
		return err
	}
	switch r := res.(type) {
	case *experiment.DEFResults:
		printDEF(r)
	case *experiment.RLResults:
		printRL(r)
	}
	if len(diffs) > 0 {
		for i, d := range diffs {
			if i == 20 {
				fmt.Printf("  ... %d more\n", len(diffs)-20)
				break
			}
			fmt.Println("  differs:", d)
		}
		return fmt.Errorf("the rerun did not reproduce %s: %d numbers differ", from, len(diffs))
	}
	fmt.Printf("reproduced %s: every number equals the recorded run's (timings aside)\n", from)
	return nil
}

// resumeRun continues the run in dir (`kernel run -resume DIR`): it reruns the command its
// manifest records with -resume and -out DIR, so that no flag needs typing again.
func resumeRun(dir string) error {
	m, err := experiment.ReadManifest(dir)
	if err != nil {
		return fmt.Errorf("-resume: %w", err)
	}
	if m.From != "" {
		return fmt.Errorf("-resume: %s holds a rerun of %s (kernel run -from), which has no checkpoint; run it again", dir, m.From)
	}
	switch m.State() {
	case experiment.StatusFinished:
		return fmt.Errorf("-resume: the run in %s finished on %s; there is nothing to resume", dir, m.End.Local().Format(time.DateTime))
	case experiment.StatusRunning:
		return fmt.Errorf("-resume: the run in %s is still running (process %d); stop it first (Ctrl-C saves a checkpoint)", dir, m.PID)
	case experiment.StateUnknown:
		fmt.Fprintf(os.Stderr, "note: %s records a run on host %q that may still be running there\n", dir, m.Host)
	}
	args := resumeArgs(m, dir)
	fmt.Fprintf(os.Stderr, "resuming the %s run in %s: kernel run %s\n", m.State(), dir, strings.Join(args, " "))
	return runExperiment(args)
}

// resumeArgs is the `kernel run` command line that continues the run m recorded in dir: its
// experiment and flags, with -resume and -out dir.
func resumeArgs(m *experiment.Manifest, dir string) []string {
	args := []string{m.Experiment}
	for _, name := range slices.Sorted(maps.Keys(m.Flags)) {
		if name != "resume" && name != "out" {
			args = append(args, "-"+name+"="+m.Flags[name])
		}
	}
	return append(args, "-resume", "-out", dir)
}

// interruptContext is cancelled by the first SIGINT (Ctrl-C) or SIGTERM, so that the running
// experiment saves a checkpoint and returns; a second signal exits at once (status 130).
func interruptContext() (context.Context, context.CancelFunc) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	ctx, stop := interruptOn(sig, os.Stderr, os.Exit)
	return ctx, func() { signal.Stop(sig); stop() }
}

// interruptOn is interruptContext on the signals of sig: the first cancels the context, a second
// before stop calls exit(130); messages go to w.
func interruptOn(sig <-chan os.Signal, w io.Writer, exit func(int)) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}) // closed by stop only: the run has returned
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(w, "\n%v: saving a checkpoint and stopping (press Ctrl-C again to quit at once, losing the work since the last checkpoint)\n", s)
			cancel()
		case <-done:
			return
		}
		select {
		case <-sig:
			fmt.Fprintln(w, "second interrupt: exiting now")
			exit(130)
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() { once.Do(func() { close(done); cancel() }) }
}

// resumeHint adds to an interrupted run's error the command that continues it.
func resumeHint(err error) error {
	var in *experiment.Interrupted
	if !errors.As(err, &in) {
		return err
	}
	args := slices.Clone(os.Args)
	if len(args) > 0 {
		args[0] = "kernel"
		if strings.Contains(os.Args[0], "go-build") { // go run
			args[0] = "go run ./kernel"
		}
	}
	if !slices.Contains(args, "-resume") && !slices.Contains(args, "--resume") {
		args = append(args, "-resume")
	}
	return fmt.Errorf("%w\nresume with: %s", err, strings.Join(args, " "))
}

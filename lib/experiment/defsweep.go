package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/def"
	"github.com/execfeed/execfeed/lib/metrics"
	"github.com/execfeed/execfeed/lib/progress"
	"github.com/execfeed/execfeed/lib/proxy"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/lib/trainer"
)

// Splits of the rpn-def-sizes experiment.
const (
	// SplitIID is seed 000's split: training, validation and test examples from one distribution.
	SplitIID = "iid"
	// SplitLength trains and validates on descriptions of 1-2 steps and tests on 3-step ones:
	// longer descriptions, and longer programs, than any seen in training.
	SplitLength = "length"
)

// SweepConfig configures rpn-def-sizes: CE and DEF routines trained on the first N training
// examples for several N, several seeds each, on one or more splits.
type SweepConfig struct {
	DataSeed uint64   `json:"data_seed"`
	Splits   []string `json:"splits"` // SplitIID, SplitLength
	Sizes    []int    `json:"sizes"`  // training-set sizes of the iid split; 0 or more than the split has: all of it
	// LengthSizes are the training-set sizes of the length split (its training set has ~4,800
	// examples: the 1-2 step ones).
	LengthSizes []int    `json:"length_sizes"`
	Seeds       []int64  `json:"seeds"`    // model seeds (weights, shuffling, inputs, Gumbel noise, the proxy)
	Routines    []string `json:"routines"` // names from Routines
	// Steps is the number of optimizer steps of every run, at every size. The training set is
	// repeated until an epoch has at least EpochExamples examples, validation and test are
	// evaluated after every epoch, and the number of epochs is Steps / steps per epoch, rounded.
	Steps         int     `json:"steps"`
	EpochExamples int     `json:"epoch_examples"`
	EvalSize      int     `json:"eval_size"` // at most this many val and test examples (0: all)
	Batch         int     `json:"batch"`
	LR            float64 `json:"lr"`
	LRFinal       float64 `json:"lr_final"`
	Lambda        float64 `json:"lambda"`
	ProxyEpochs   int     `json:"proxy_epochs"` // the proxy is pre-trained once per seed on all training programs
	ProxyLR       float64 `json:"proxy_lr"`
	GradCheck     int     `json:"grad_check"` // validation programs for the gradient-quality check (0: skip)
	// Diagnose runs only the per-seed measurements (proxy, gradient quality, and the size of DEF's
	// two gradients before and after CE training, TermStages), no sizes.
	Diagnose bool   `json:"diagnose,omitempty"`
	Backend  string `json:"backend"`
	OutDir   string `json:"out_dir"`
	// Quick marks the smoke-test preset (QuickSweepConfig): its numbers say nothing about the method.
	Quick   bool     `json:"quick"`
	Command []string `json:"command,omitempty"`
	// LongRun: -resume, Ctrl-C and the checkpoint interval (checkpoint.go).
	LongRun `json:"-"`
	Log     io.Writer `json:"-"`
}

// DefaultSweepConfig is the full sweep: 5 sizes from 100 to 8,000 on the iid split and all of
// the length split's training examples, 3 seeds, CE against DEF through the learned proxy and
// DEF through the exact executor, 300 steps per run.
func DefaultSweepConfig() SweepConfig {
	d := DefaultDEFConfig()
	return SweepConfig{DataSeed: d.DataSeed, Splits: []string{SplitIID, SplitLength}, Sizes: []int{100, 300, 1000, 3000, 8000}, LengthSizes: []int{0},
		Seeds: []int64{1, 2, 3}, Routines: []string{"baseline", "def", "def-exact"}, Steps: 300, EpochExamples: 2000, EvalSize: 400,
		Batch: d.Batch, LR: d.LR, LRFinal: d.LRFinal, Lambda: d.Lambda, ProxyEpochs: d.ProxyEpochs, ProxyLR: d.ProxyLR,
		GradCheck: 200, OutDir: "out/rpn-def-sizes", Log: os.Stderr}
}

// QuickSweepConfig is a minutes-long smoke version for CI and notebooks' quick mode.
func QuickSweepConfig() SweepConfig {
	c := DefaultSweepConfig()
	c.Sizes, c.LengthSizes, c.Seeds, c.Steps, c.EpochExamples, c.EvalSize, c.ProxyEpochs, c.GradCheck = []int{100, 400}, []int{100}, []int64{1, 2}, 20, 320, 64, 1, 16
	c.Quick, c.OutDir = true, "out/rpn-def-sizes-quick"
	return c
}

// SweepRun is one routine trained on one training-set size with one seed.
type SweepRun struct {
	Split        string           `json:"split"`
	Size         int              `json:"size"` // training examples actually used
	Seed         int64            `json:"seed"`
	Routine      string           `json:"routine"`
	Epochs       int              `json:"epochs"`
	Steps        int              `json:"steps"`
	BestValEpoch int              `json:"best_val_epoch"` // first epoch with the best validation exact match
	BestVal      metrics.Accuracy `json:"best_val"`
	Test         metrics.Accuracy `json:"test"`       // at BestValEpoch (model selection on validation)
	FinalTest    metrics.Accuracy `json:"final_test"` // after the last epoch
	FinalCE      float64          `json:"final_ce"`
	FinalMSE     float64          `json:"final_mse,omitempty"`
	Seconds      float64          `json:"seconds"`
	MsPerStep    float64          `json:"ms_per_step"`
	Curve        []EpochRecord    `json:"curve"`
}

// SweepPoint summarises the seeds of one (split, size, routine).
type SweepPoint struct {
	Split      string  `json:"split"`
	Size       int     `json:"size"`
	Routine    string  `json:"routine"`
	Seeds      int     `json:"seeds"`
	Exact      Spread  `json:"test_exact"`      // test exact match at the best-validation epoch
	Functional Spread  `json:"test_functional"` // test functional accuracy at the best-validation epoch
	FinalFunc  Spread  `json:"final_test_functional"`
	MsPerStep  float64 `json:"ms_per_step"`
}

// Spread is the mean, sample standard deviation, minimum and maximum over seeds.
type Spread struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// SpreadOf summarises xs.
func SpreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{Mean: math.NaN(), Std: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := Spread{Min: slices.Min(xs), Max: slices.Max(xs)}
	for _, x := range xs {
		s.Mean += x
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		for _, x := range xs {
			s.Std += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(s.Std / float64(len(xs)-1))
	}
	return s
}

// SeedGradients is the gradient quality of both executors on the same programs and inputs.
type SeedGradients struct {
	Seed     int64          `json:"seed"`
	ProxyMSE float64        `json:"proxy_val_mse"`
	ProxyVar float64        `json:"proxy_val_output_variance"`
	Proxy    def.GradReport `json:"proxy"`
	Exact    def.GradReport `json:"exact"`
	Terms    []TermStage    `json:"term_gradients,omitempty"` // with Diagnose
}

// TermStage is the mean over training batches of the L2 norms of the gradients, with respect to
// the generator's logits, of CE and of the MSE term (not multiplied by λ) through each executor,
// at one point of CE training (the baseline's trajectory, all 8,000 examples).
type TermStage struct {
	CESteps  int     `json:"ce_steps"`
	Batches  int     `json:"batches"`
	CE       float64 `json:"ce"`
	Proxy    float64 `json:"mse_proxy"`
	Exact    float64 `json:"mse_exact"`
	ExactST  float64 `json:"mse_exact_st"`
	Lambda   float64 `json:"lambda"`
	RatioPx  float64 `json:"lambda_mse_over_ce_proxy"` // λ·‖∇MSE‖/‖∇CE‖ through the proxy
	RatioEx  float64 `json:"lambda_mse_over_ce_exact"`
	RatioEST float64 `json:"lambda_mse_over_ce_exact_st"`
}

// SweepResults is what rpn-def-sizes writes to results.json.
type SweepResults struct {
	Experiment string            `json:"experiment"`
	Quick      bool              `json:"quick"`
	Complete   bool              `json:"complete"` // false while runs are still going
	Date       string            `json:"date"`
	Hardware   string            `json:"hardware"`
	Command    []string          `json:"command,omitempty"`
	Config     SweepConfig       `json:"config"`
	Model      seq2seq.Config    `json:"model"`
	Splits     map[string][3]int `json:"split_sizes"` // available train, val, test examples per split
	Gradients  []SeedGradients   `json:"gradient_quality,omitempty"`
	Runs       []SweepRun        `json:"runs"`
	Points     []SweepPoint      `json:"points"`
	Seconds    float64           `json:"seconds"`
}

// SplitExamples makes split name out of the generated data: SplitIID is the data set as it is;
// SplitLength keeps the examples of at most 2 steps in train and val and the 3-step ones in test.
func SplitExamples(name string, s rpn.Split) (rpn.Split, error) {
	switch name {
	case SplitIID:
		return s, nil
	case SplitLength:
		short := func(e rpn.Example) bool { return DescriptionSteps(e) <= 2 }
		long := func(e rpn.Example) bool { return DescriptionSteps(e) >= 3 }
		return rpn.Split{Train: filter(s.Train, short), Val: filter(s.Val, short), Test: filter(s.Test, long)}, nil
	}
	return rpn.Split{}, fmt.Errorf("rpn-def-sizes: unknown split %q (known: %s, %s)", name, SplitIID, SplitLength)
}

// DescriptionSteps counts the steps of a generated description (", then" joins them).
func DescriptionSteps(e rpn.Example) int { return strings.Count(e.Description, ", then ") + 1 }

func filter(xs []rpn.Example, keep func(rpn.Example) bool) []rpn.Example {
	var out []rpn.Example
	for _, x := range xs {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

func (cfg SweepConfig) check() error {
	if len(cfg.Splits) == 0 || (slices.Contains(cfg.Splits, SplitIID) && len(cfg.Sizes) == 0) ||
		(slices.Contains(cfg.Splits, SplitLength) && len(cfg.LengthSizes) == 0) || len(cfg.Seeds) == 0 || len(cfg.Routines) == 0 || cfg.Steps <= 0 ||
		cfg.EpochExamples < 0 || cfg.EvalSize < 0 || cfg.Batch <= 0 || cfg.LR <= 0 || cfg.LRFinal < 0 || cfg.Lambda <= 0 ||
		cfg.ProxyEpochs <= 0 || cfg.ProxyLR <= 0 || cfg.GradCheck < 0 || cfg.OutDir == "" {
		return fmt.Errorf("rpn-def-sizes: bad config %+v", cfg)
	}
	if cfg.Diagnose && cfg.GradCheck == 0 {
		return fmt.Errorf("rpn-def-sizes: diagnose measures the gradients, so it needs grad check > 0")
	}
	known := Routines(cfg.Lambda)
	for i, name := range cfg.Routines {
		if _, ok := known[name]; !ok {
			return fmt.Errorf("rpn-def-sizes: unknown routine %q (known: %s)", name, strings.Join(sortedKeys(known), ", "))
		}
		if slices.Contains(cfg.Routines[:i], name) {
			return fmt.Errorf("rpn-def-sizes: routine %q listed twice", name)
		}
	}
	for _, n := range append(slices.Clone(cfg.Sizes), cfg.LengthSizes...) {
		if n < 0 || (n > 0 && n < cfg.Batch) {
			return fmt.Errorf("rpn-def-sizes: training-set size %d (want 0 for all, or at least one batch of %d)", n, cfg.Batch)
		}
	}
	for _, sp := range cfg.Splits {
		if _, err := SplitExamples(sp, rpn.Split{}); err != nil {
			return err
		}
	}
	return nil
}

// repeatTo repeats examples until there are at least n (whole copies).
func repeatTo(examples []rpn.Example, n int) []rpn.Example {
	out := slices.Clone(examples)
	for len(out) < n {
		out = append(out, examples...)
	}
	return out
}

// RunDEFSizes runs the rpn-def-sizes experiment and writes results.json, accuracy.svg (test
// functional accuracy against training-set size, one line per routine, with the seeds' range)
// and, for the length split, length.svg to cfg.OutDir. Results are written after every run.
//
// Every run starts from fresh weights (seed), sees the same number of optimizer steps whatever
// the size, and is scored on the test set at the epoch of best validation exact match. The
// program vocabulary and the description vocabulary are built from the whole training split at
// every size (so that validation and test descriptions never have unknown words); the learned
// proxy is pre-trained once per seed on all 8,000 training programs (programs only, no
// descriptions: a proxy needs no paired data), so DEF's executor is the same at every size.
func RunDEFSizes(cfg SweepConfig) (*SweepResults, error) {
	start := time.Now()
	log := cfg.Log
	if err := cfg.check(); err != nil {
		return nil, err
	}
	backend, err := Backend(cfg.Backend)
	if err != nil {
		return nil, err
	}
	if err := CheckOutDir(cfg.OutDir); err != nil {
		return nil, fmt.Errorf("rpn-def-sizes: %w", err)
	}
	st, err := openSweepState(cfg)
	if err != nil {
		return nil, err
	}
	gen := rpn.DefaultGenConfig(rpn.Basic)
	gen.Seed = cfg.DataSeed
	full, err := rpn.Generate(gen)
	if err != nil {
		return nil, err
	}
	m := seq2seq.NewModel(seq2seq.DefaultConfig(), rpn.Basic, full.Train)
	known := Routines(cfg.Lambda)
	res := &SweepResults{Experiment: "rpn-def-sizes", Quick: cfg.Quick, Date: time.Now().UTC().Format(time.RFC3339),
		Hardware: Hardware(), Command: cfg.Command, Config: cfg, Model: m.Cfg, Splits: map[string][3]int{}}
	res.Config.Log = nil
	if !st.fresh {
		res.Date, res.Command, res.Config.Command, res.Gradients, res.Runs = st.Date, st.Command, st.Command, st.Gradients, st.Runs
	}
	path := CheckpointPath(cfg.OutDir)
	elapsed := func() float64 { return st.Seconds + since(start) }
	save := func() error {
		res.Seconds = elapsed()
		res.Points = SweepPoints(res.Runs)
		return WriteSweep(cfg.OutDir, res)
	}
	checkpoint := func(current *routineState) error {
		st.Date, st.Command, st.Seconds, st.Gradients, st.Runs, st.Current = res.Date, res.Command, elapsed(), res.Gradients, res.Runs, current
		start = time.Now()
		return SaveCheckpoint(path, "rpn-def-sizes", cfg, st)
	}
	interrupted := func(current *routineState) error {
		return interruption("rpn-def-sizes", path, log, checkpoint(current))
	}
	type prepared struct {
		split     rpn.Split
		val, test *seq2seq.Encoded
	}
	splits := map[string]prepared{}
	for _, name := range cfg.Splits {
		sp, err := SplitExamples(name, full)
		if err != nil {
			return nil, err
		}
		res.Splits[name] = [3]int{len(sp.Train), len(sp.Val), len(sp.Test)}
		if cfg.EvalSize > 0 {
			sp.Val, sp.Test = sp.Val[:min(cfg.EvalSize, len(sp.Val))], sp.Test[:min(cfg.EvalSize, len(sp.Test))]
		}
		p := prepared{split: sp}
		if p.val, err = m.Prepare(sp.Val); err != nil {
			return nil, fmt.Errorf("%s validation data: %w", name, err)
		}
		if p.test, err = m.Prepare(sp.Test); err != nil {
			return nil, fmt.Errorf("%s test data: %w", name, err)
		}
		splits[name] = p
		logf(log, "rpn-def-sizes: split %s: %d train, %d val, %d test (evaluated on %d/%d)\n", name, len(sp.Train),
			res.Splits[name][1], res.Splits[name][2], len(sp.Val), len(sp.Test))
	}
	// trainSet is the training examples of split name at size.
	trainSet := func(name string, size int) []rpn.Example {
		train := splits[name].split.Train
		if size > 0 && size < len(train) {
			train = train[:size]
		}
		return train
	}
	sizesOf := func(split string) []int {
		if split == SplitLength {
			return cfg.LengthSizes
		}
		return cfg.Sizes
	}
	// The runs of the sweep, in order: two sizes above a split's size both mean all of it.
	var plan []sweepKey
	for _, seed := range cfg.Seeds {
		for _, name := range cfg.Splits {
			for _, size := range sizesOf(name) {
				for _, rname := range cfg.Routines {
					if k := (sweepKey{name, len(trainSet(name, size)), seed, rname}); !slices.Contains(plan, k) {
						plan = append(plan, k)
					}
				}
			}
		}
	}
	var bar *progress.Bar
	if log != nil && !cfg.Diagnose {
		bar = progress.New(log, "rpn-def-sizes", len(plan), "run").From(len(res.Runs))
		defer bar.Done()
	}
	needProxy := slices.ContainsFunc(cfg.Routines, func(n string) bool { return known[n].Lambda > 0 && !known[n].Exact })
	clock := newCheckpointClock(cfg.CheckpointEvery)
	for _, seed := range cfg.Seeds {
		if stopped(cfg.Context) {
			return nil, interrupted(nil)
		}
		if cfg.Diagnose {
			if slices.ContainsFunc(res.Gradients, func(g SeedGradients) bool { return g.Seed == seed }) {
				continue // measured before the sweep was interrupted
			}
			g, _, err := sweepProxy(backend, cfg, m, full, seed)
			if err != nil {
				return nil, err
			}
			res.Gradients = append(res.Gradients, *g)
			if err := errors.Join(save(), checkpoint(nil)); err != nil {
				return nil, err
			}
			continue
		}
		// The seed's proxy, pre-trained when its first run needs it (a resumed sweep takes it
		// from the checkpoint when it was trained before the interruption).
		var px *proxy.Trained
		seedProxy := func() error {
			if px != nil || !(needProxy || cfg.GradCheck > 0) {
				return nil
			}
			if st.Proxy != nil && st.ProxySeed == seed {
				var err error
				if px, err = proxy.New(backend, proxy.DefaultConfig(), m.Tgt, rpn.Basic, cfg.Batch, seed); err != nil {
					return err
				}
				return trainer.Unmarshal(px.Store, st.Proxy, path)
			}
			g, p, err := sweepProxy(backend, cfg, m, full, seed)
			if err != nil {
				return err
			}
			if px = p; g != nil {
				res.Gradients = append(res.Gradients, *g)
			}
			if st.Proxy, err = trainer.Marshal(px.Store); err != nil {
				return err
			}
			st.ProxySeed = seed
			return checkpoint(nil)
		}
		for _, k := range plan {
			if k.Seed != seed || slices.ContainsFunc(res.Runs, k.is) {
				continue
			}
			if err := seedProxy(); err != nil {
				return nil, err
			}
			p := splits[k.Split]
			rep := repeatTo(trainSet(k.Split, k.Size), cfg.EpochExamples)
			enc, err := m.Prepare(rep)
			if err != nil {
				return nil, fmt.Errorf("%s training data: %w", k.Split, err)
			}
			perEpoch := len(rep) / cfg.Batch
			epochs := max(1, int(math.Round(float64(cfg.Steps)/float64(perEpoch))))
			s := &defSetup{backend: backend, model: m, split: rpn.Split{Train: rep, Val: p.split.Val, Test: p.split.Test},
				train: enc, val: p.val, test: p.test, proxy: px, known: known}
			dcfg := DefaultDEFConfig()
			dcfg.Batch, dcfg.Seed, dcfg.LR, dcfg.LRFinal, dcfg.Lambda = cfg.Batch, seed, cfg.LR, cfg.LRFinal, cfg.Lambda
			dcfg.Context, dcfg.OutDir = cfg.Context, cfg.OutDir
			ck := &routineCheckpoints{clock: clock, save: func(rs *routineState) error {
				st.CurrentKey = k
				return checkpoint(rs)
			}}
			if st.Current != nil && st.CurrentKey == k {
				ck.from = st.Current
			}
			st.Current = nil
			out, err := runRoutine(s, dcfg, known[k.Routine], epochs, nil, ck)
			if errors.Is(err, ErrInterrupted) {
				st.CurrentKey = k
				return nil, interrupted(ck.last)
			}
			if err != nil {
				return nil, fmt.Errorf("%s size %d seed %d routine %s: %w", k.Split, k.Size, seed, k.Routine, err)
			}
			run := sweepRun(out, k.Split, k.Size, seed, epochs*perEpoch)
			res.Runs = append(res.Runs, run)
			bar.Printf("%-6s n=%4d seed %d %-10s %2d epochs  best val exact %.1f%% (epoch %d)  test exact %.1f%% func %.1f%%  (%.0fs, %.0f ms/step)\n",
				k.Split, k.Size, seed, k.Routine, epochs, 100*run.BestVal.Exact, run.BestValEpoch, 100*run.Test.Exact,
				100*run.Test.Functional, run.Seconds, run.MsPerStep)
			bar.Update(len(res.Runs), fmt.Sprintf("last: %s n=%d seed %d %s", k.Split, k.Size, seed, k.Routine))
			if err := errors.Join(save(), checkpoint(nil)); err != nil {
				return nil, err
			}
		}
	}
	res.Complete = true
	if err := save(); err != nil {
		return nil, err
	}
	return res, dropCheckpoint(cfg.OutDir, "rpn-def-sizes")
}

// sweepKey names one run of rpn-def-sizes.
type sweepKey struct {
	Split   string
	Size    int // training examples used
	Seed    int64
	Routine string
}

// is reports whether r is k's run.
func (k sweepKey) is(r SweepRun) bool {
	return r.Split == k.Split && r.Size == k.Size && r.Seed == k.Seed && r.Routine == k.Routine
}

// sweepState is the state of an rpn-def-sizes sweep part way, as its checkpoint holds it.
type sweepState struct {
	Date      string
	Command   []string
	Seconds   float64 // the sweep's time so far
	Gradients []SeedGradients
	Runs      []SweepRun // the runs done
	// Proxy is the pre-trained proxy of seed ProxySeed (trainer.Marshal), the last one trained.
	Proxy     []byte
	ProxySeed int64
	// Current is the run CurrentKey part way through (nil: none).
	Current    *routineState
	CurrentKey sweepKey

	fresh bool // not read from a checkpoint
}

// openSweepState reads the sweep's state from its checkpoint when cfg.Resume asks for it.
func openSweepState(cfg SweepConfig) (*sweepState, error) {
	st := &sweepState{}
	ok, err := readCheckpoint(cfg.OutDir, "rpn-def-sizes", cfg, st, cfg.Resume, cfg.Log)
	if err != nil || !ok {
		return &sweepState{fresh: true}, err
	}
	where := ""
	if c := st.Current; c != nil {
		k := st.CurrentKey
		where = fmt.Sprintf("; %s n=%d seed %d %s at epoch %d step %d", k.Split, k.Size, k.Seed, k.Routine, len(c.Result.Epochs)+1, c.Done)
	}
	logf(cfg.Log, "rpn-def-sizes: resuming from %s: %d runs done%s\n", CheckpointPath(cfg.OutDir), len(st.Runs), where)
	return st, nil
}

// sweepProxy pre-trains the proxy for one seed on all training programs and measures its and
// the exact executor's gradient quality on the same validation programs and inputs.
func sweepProxy(backend compute.Backend, cfg SweepConfig, m *seq2seq.Model, full rpn.Split, seed int64) (*SeedGradients, *proxy.Trained, error) {
	t0 := time.Now()
	px, err := proxy.New(backend, proxy.DefaultConfig(), m.Tgt, rpn.Basic, cfg.Batch, seed)
	if err != nil {
		return nil, nil, err
	}
	ptrain, err := px.NewData(programs(full.Train), m.Cfg.TgtLen)
	if err != nil {
		return nil, nil, err
	}
	pval, err := px.NewData(programs(full.Val), m.Cfg.TgtLen)
	if err != nil {
		return nil, nil, err
	}
	if err := px.Fit(ptrain, cfg.ProxyEpochs, cfg.ProxyLR, rand.New(rand.NewPCG(uint64(seed), 7)), nil); err != nil {
		return nil, nil, fmt.Errorf("proxy pre-training: %w", err)
	}
	g := &SeedGradients{Seed: seed}
	if g.ProxyMSE, err = px.MSE(pval, rand.New(rand.NewPCG(uint64(seed), 8))); err != nil {
		return nil, nil, err
	}
	g.ProxyVar = outputVariance(rpn.Basic, px, programs(full.Val), rand.New(rand.NewPCG(uint64(seed), 8)))
	logf(cfg.Log, "seed %d: proxy held-out MSE %.0f (output variance %.0f) after %d epochs (%.0fs)\n", seed, g.ProxyMSE, g.ProxyVar, cfg.ProxyEpochs, since(t0))
	if cfg.GradCheck == 0 {
		return nil, px, nil
	}
	probe := programs(full.Val[:min(cfg.GradCheck, len(full.Val))])
	if g.Proxy, err = def.GradientQuality(px, probe, rand.New(rand.NewPCG(uint64(seed), 9))); err != nil {
		return nil, nil, err
	}
	ex, err := def.NewExact(m.Tgt, rpn.Basic)
	if err != nil {
		return nil, nil, err
	}
	pc := proxy.DefaultConfig()
	if g.Exact, err = def.ExactGradientQuality(backend, ex, pc.K, pc.InputRange, cfg.Batch, probe, rand.New(rand.NewPCG(uint64(seed), 9))); err != nil {
		return nil, nil, err
	}
	logf(cfg.Log, "seed %d: gradient vs interpreter over %d directions: proxy cosine %.3f sign %.1f%%, exact cosine %.3f sign %.1f%%\n",
		seed, g.Proxy.Directions, g.Proxy.MeanCosine, 100*g.Proxy.SignAgreement, g.Exact.MeanCosine, 100*g.Exact.SignAgreement)
	if cfg.Diagnose {
		if g.Terms, err = termStages(backend, cfg, m, full, seed, px, ex); err != nil {
			return nil, nil, err
		}
	}
	return g, px, nil
}

// termStages measures TermStage on 8 training batches with fresh weights (seed) and after each of
// two CE epochs on all training examples (250 steps, the baseline's budget at 8,000).
func termStages(backend compute.Backend, cfg SweepConfig, m *seq2seq.Model, full rpn.Split, seed int64, px *proxy.Trained, ex *def.Exact) ([]TermStage, error) {
	gen, err := seq2seq.NewGenerator(backend, m, cfg.Batch, seed)
	if err != nil {
		return nil, err
	}
	if err := def.AttachProxy(gen, px); err != nil {
		return nil, err
	}
	var measures [3]func(in ...any) (def.TermNorms, error)
	for i, x := range []struct {
		exec def.Executor
		st   bool
	}{{px.Proxy, false}, {ex, false}, {ex, true}} {
		if measures[i], err = def.TermGradients(gen, x.exec, x.st); err != nil {
			return nil, err
		}
	}
	train, err := m.Prepare(full.Train)
	if err != nil {
		return nil, err
	}
	probe := train.Epoch(cfg.Batch, rand.New(rand.NewPCG(uint64(seed), 11)), true)[:8]
	inputRng := rand.New(rand.NewPCG(uint64(seed), 12))
	measure := func(steps int) (TermStage, error) {
		st := TermStage{CESteps: steps, Batches: len(probe), Lambda: cfg.Lambda}
		for _, idx := range probe {
			b := train.Batch(idx, cfg.Batch)
			in, out, err := proxy.Targets(rpn.Basic, programs(pick(full.Train, idx)), px.RandomInputs(inputRng, len(idx)), px.Cfg.K)
			if err != nil {
				return st, err
			}
			var n [3]def.TermNorms
			for i := range measures {
				if n[i], err = measures[i](b.Src, b.SrcLen, b.DecIn, b.Tgt, in, out, def.Hyper(1)); err != nil {
					return st, err
				}
			}
			st.CE += n[0].CE / float64(len(probe))
			st.Proxy += n[0].MSE / float64(len(probe))
			st.Exact += n[1].MSE / float64(len(probe))
			st.ExactST += n[2].MSE / float64(len(probe))
		}
		st.RatioPx, st.RatioEx, st.RatioEST = cfg.Lambda*st.Proxy/st.CE, cfg.Lambda*st.Exact/st.CE, cfg.Lambda*st.ExactST/st.CE
		logf(cfg.Log, "seed %d after %d CE steps: ‖∇CE‖ %.3g, λ‖∇MSE‖ proxy %.3g, exact %.3g, exact-st %.3g\n",
			seed, steps, st.CE, cfg.Lambda*st.Proxy, cfg.Lambda*st.Exact, cfg.Lambda*st.ExactST)
		return st, nil
	}
	var out []TermStage
	st, err := measure(0)
	if err != nil {
		return nil, err
	}
	out = append(out, st)
	step, err := gen.CEStep(optimizer.Adam().LearningRate(cfg.LR).Done())
	if err != nil {
		return nil, err
	}
	rng, steps := rand.New(rand.NewPCG(uint64(seed), 1)), 0
	for range 2 {
		if _, err := gen.TrainEpoch(step, train, rng, nil, nil); err != nil {
			return nil, err
		}
		steps += train.Len() / cfg.Batch
		if st, err = measure(steps); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func pick(xs []rpn.Example, idx []int) []rpn.Example {
	out := make([]rpn.Example, len(idx))
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}

func sweepRun(out *RoutineResult, split string, size int, seed int64, steps int) SweepRun {
	r := SweepRun{Split: split, Size: size, Seed: seed, Routine: out.Name, Epochs: len(out.Epochs), Steps: steps,
		Seconds: out.Seconds, MsPerStep: out.MsPerStep, Curve: out.Epochs, BestVal: metrics.Accuracy{Exact: -1}}
	for _, e := range out.Epochs {
		if e.Val.Exact > r.BestVal.Exact {
			r.BestVal, r.BestValEpoch, r.Test = e.Val, e.Epoch, e.Test
		}
	}
	last := out.Epochs[len(out.Epochs)-1]
	r.FinalTest, r.FinalCE, r.FinalMSE = last.Test, last.CE, last.MSE
	return r
}

// SweepPoints summarises runs over seeds, in the order the (split, size, routine) first appear.
func SweepPoints(runs []SweepRun) []SweepPoint {
	type key struct {
		split   string
		size    int
		routine string
	}
	var order []key
	groups := map[key][]SweepRun{}
	for _, r := range runs {
		k := key{r.Split, r.Size, r.Routine}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	slices.SortStableFunc(order, func(a, b key) int {
		if a.split != b.split {
			return strings.Compare(a.split, b.split)
		}
		return a.size - b.size
	})
	var out []SweepPoint
	for _, k := range order {
		var ex, fn, fin []float64
		ms := 0.0
		for _, r := range groups[k] {
			ex, fn, fin = append(ex, r.Test.Exact), append(fn, r.Test.Functional), append(fin, r.FinalTest.Functional)
			ms += r.MsPerStep
		}
		n := len(groups[k])
		out = append(out, SweepPoint{Split: k.split, Size: k.size, Routine: k.routine, Seeds: n, Exact: SpreadOf(ex),
			Functional: SpreadOf(fn), FinalFunc: SpreadOf(fin), MsPerStep: ms / float64(n)})
	}
	return out
}

// SweepTable renders the points as rows: test exact and functional accuracy, mean ± std
// (min-max) over seeds.
func SweepTable(res *SweepResults) (header []string, rows [][]string) {
	header = []string{"split", "train size", "routine", "seeds", "test exact", "test functional", "final test functional", "ms/step"}
	f := func(s Spread) string {
		return fmt.Sprintf("%.1f ± %.1f (%.1f-%.1f)", 100*s.Mean, 100*s.Std, 100*s.Min, 100*s.Max)
	}
	for _, p := range res.Points {
		rows = append(rows, []string{p.Split, fmt.Sprint(p.Size), p.Routine, fmt.Sprint(p.Seeds), f(p.Exact), f(p.Functional),
			f(p.FinalFunc), fmt.Sprintf("%.0f", p.MsPerStep)})
	}
	return header, rows
}

// MergeSweeps combines rpn-def-sizes results run separately (other routines, sizes or seeds of
// the same recipe) into one, for one table and one figure. The recipes must agree on everything
// that changes a run's numbers (data seed, steps, epoch examples, evaluation size, batch, learning
// rate and its decay, λ, proxy epochs and learning rate); a run present in two parts must have the
// same numbers in both (it is kept once).
func MergeSweeps(parts ...*SweepResults) (*SweepResults, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("rpn-def-sizes: nothing to merge")
	}
	type sweepRecipe struct {
		dataSeed                              uint64
		steps, epochExamples, evalSize, batch int
		lr, lrFinal, lambda, proxyLR          float64
		proxyEpochs                           int
	}
	recipe := func(c SweepConfig) sweepRecipe {
		return sweepRecipe{c.DataSeed, c.Steps, c.EpochExamples, c.EvalSize, c.Batch, c.LR, c.LRFinal, c.Lambda, c.ProxyLR, c.ProxyEpochs}
	}
	out := *parts[0]
	out.Config.Routines, out.Config.Splits = slices.Clone(out.Config.Routines), slices.Clone(out.Config.Splits)
	out.Runs, out.Gradients, out.Splits = nil, nil, map[string][3]int{}
	out.Complete, out.Seconds = true, 0
	for i, p := range parts {
		if recipe(p.Config) != recipe(parts[0].Config) {
			return nil, fmt.Errorf("rpn-def-sizes: part %d's recipe %+v differs from part 0's %+v", i, recipe(p.Config), recipe(parts[0].Config))
		}
		out.Complete = out.Complete && p.Complete
		out.Quick = out.Quick || p.Quick
		out.Seconds += p.Seconds
		for k, v := range p.Splits {
			out.Splits[k] = v
		}
		for _, g := range p.Gradients {
			if !slices.ContainsFunc(out.Gradients, func(h SeedGradients) bool { return h.Seed == g.Seed }) {
				out.Gradients = append(out.Gradients, g)
			}
		}
		for _, r := range p.Runs {
			j := slices.IndexFunc(out.Runs, func(o SweepRun) bool {
				return o.Split == r.Split && o.Size == r.Size && o.Seed == r.Seed && o.Routine == r.Routine
			})
			if j < 0 {
				out.Runs = append(out.Runs, r)
				continue
			}
			if o := out.Runs[j]; o.Test != r.Test || o.FinalTest != r.FinalTest || o.BestValEpoch != r.BestValEpoch {
				return nil, fmt.Errorf("rpn-def-sizes: %s n=%d seed %d %s differs between parts: test %+v vs %+v",
					r.Split, r.Size, r.Seed, r.Routine, o.Test, r.Test)
			}
		}
		for _, l := range []struct{ into, from *[]string }{{&out.Config.Routines, &p.Config.Routines}, {&out.Config.Splits, &p.Config.Splits}} {
			for _, name := range *l.from {
				if !slices.Contains(*l.into, name) {
					*l.into = append(*l.into, name)
				}
			}
		}
	}
	out.Config.Command = nil
	out.Command = nil
	out.Points = SweepPoints(out.Runs)
	return &out, nil
}

// LoadSweep reads an rpn-def-sizes results.json.
func LoadSweep(path string) (*SweepResults, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res SweepResults
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if res.Experiment != "rpn-def-sizes" {
		return nil, fmt.Errorf("%s: results of %q, not rpn-def-sizes", path, res.Experiment)
	}
	return &res, nil
}

// WriteSweep writes results.json and the plots of res to dir.
func WriteSweep(dir string, res *SweepResults) error {
	if _, err := WriteJSON(dir, "results.json", res); err != nil {
		return err
	}
	for _, sp := range res.Config.Splits {
		name := "accuracy.svg"
		if sp != SplitIID {
			name = sp + ".svg"
		}
		if err := WriteFileAtomic(filepath.Join(dir, name), []byte(SweepPlot(res, sp)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

package experiment

import (
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
	"github.com/execfeed/execfeed/lib/plot"
	"github.com/execfeed/execfeed/lib/progress"
	"github.com/execfeed/execfeed/lib/proxy"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/lib/trainer"
)

// Seed000 holds the numbers seed 000 reports, printed beside ours.
var Seed000 = map[string]float64{
	"baseline_test_exact": 0.9875, "def_test_exact": 0.8405,
	"baseline_best_val_tuning": 0.974, "def_best_val_tuning": 0.032,
	"proxy_mse": 28.8, "lambda": 0.00039,
}

// Routine is one training routine of the rpn-def experiment.
type Routine struct {
	Name            string  `json:"name"`
	Lambda          float64 `json:"lambda"`           // 0: plain CE (the baseline)
	StraightThrough bool    `json:"straight_through"` // hard tokens forward, soft gradient backward
	TauStart        float64 `json:"tau_start"`        // Gumbel-softmax temperature at epoch 0
	TauEnd          float64 `json:"tau_end"`          // ... at the last epoch (geometric schedule)
	WarmupEpochs    int     `json:"warmup_epochs"`    // λ grows linearly from 0 over these epochs (-1: half the epochs)
	Exact           bool    `json:"exact,omitempty"`  // DEF through the exact soft stack machine (def.Exact), not the learned proxy
	LR              float64 `json:"lr,omitempty"`     // overrides DEFConfig.LR (set by tuning)
}

// Routines are the routines the rpn-def experiment knows by name. "def" is seed 000's method
// with its tuned λ; the "-strong" routines use 100x that λ so the functional term matters, and
// the two fixes (annealed straight-through, λ warm-up) are tried against it. The "def-exact"
// routines train through the exact differentiable executor (def.Exact) instead of the proxy;
// "def-exact-st" feeds it the sampled one-hot program (straight-through), so the executor's
// output is the sampled program's true output and its gradient is taken at that program, where
// it equals the interpreter's finite differences.
func Routines(lambda float64) map[string]Routine {
	strong := 100 * lambda
	return map[string]Routine{
		"baseline":          {Name: "baseline"},
		"def":               {Name: "def", Lambda: lambda, TauStart: 1, TauEnd: 1},
		"def-strong":        {Name: "def-strong", Lambda: strong, TauStart: 1, TauEnd: 1},
		"def-strong-st":     {Name: "def-strong-st", Lambda: strong, StraightThrough: true, TauStart: 2, TauEnd: 0.2},
		"def-strong-warmup": {Name: "def-strong-warmup", Lambda: strong, TauStart: 1, TauEnd: 1, WarmupEpochs: -1},
		"def-exact":         {Name: "def-exact", Lambda: lambda, TauStart: 1, TauEnd: 1, Exact: true},
		"def-exact-strong":  {Name: "def-exact-strong", Lambda: strong, TauStart: 1, TauEnd: 1, Exact: true},
		"def-exact-st":      {Name: "def-exact-st", Lambda: lambda, StraightThrough: true, TauStart: 1, TauEnd: 1, Exact: true},
	}
}

// DEFConfig configures the rpn-def experiment.
type DEFConfig struct {
	Dialect     rpn.Dialect `json:"dialect"`
	DataDir     string      `json:"data_dir,omitempty"` // load train/val/test.jsonl from here instead of generating the data set
	DataSeed    uint64      `json:"data_seed"`          // data generator seed (unused with DataDir)
	TrainSize   int         `json:"train_size"`         // use only the first TrainSize training examples (0: all)
	EvalSize    int         `json:"eval_size"`          // use only the first EvalSize val and test examples (0: all)
	Epochs      int         `json:"epochs"`             // generator epochs per routine (seed: 20)
	Batch       int         `json:"batch"`              // batch size
	Seed        int64       `json:"seed"`               // model seed (weights, shuffling, inputs, Gumbel noise)
	LR          float64     `json:"lr"`                 // Adam learning rate of the generator
	LRFinal     float64     `json:"lr_final"`           // the learning rate decays linearly to LR*LRFinal at the last epoch (0: constant)
	Lambda      float64     `json:"lambda"`             // DEF weight λ (seed's tuned value: 0.00039)
	ProxyEpochs int         `json:"proxy_epochs"`       // proxy pre-training epochs
	ProxyLR     float64     `json:"proxy_lr"`
	Routines    []string    `json:"routines"` // names from Routines
	Backend     string      `json:"backend"`
	OutDir      string      `json:"out_dir"`
	GradCheck   int         `json:"grad_check"`  // programs used to measure the proxy's gradient quality (0: skip)
	TuneTrials  int         `json:"tune_trials"` // TPE trials per routine before the final run (0: no tuning)
	TuneEpochs  int         `json:"tune_epochs"` // epochs per tuning trial (0: Epochs/4)
	// Quick marks the smoke-test preset (QuickDEFConfig): its numbers say nothing about the method.
	Quick bool `json:"quick"`
	// LongRun: -resume, Ctrl-C and the checkpoint interval (checkpoint.go).
	LongRun `json:"-"`
	// Command is the command line that asked for the run, recorded in the results (set by the CLI).
	Command []string  `json:"-"`
	Log     io.Writer `json:"-"`
}

// DefaultDEFConfig is the main job: baseline and DEF, 20 epochs each, on the CPU default.
func DefaultDEFConfig() DEFConfig {
	return DEFConfig{Dialect: rpn.Basic, DataSeed: 1, Epochs: 20, Batch: 64, Seed: 1, LR: 2e-3, LRFinal: 0.1,
		Lambda: 0.00039, ProxyEpochs: 10, ProxyLR: 1e-3, Routines: []string{"baseline", "def"},
		OutDir: "out/rpn-def", GradCheck: 200, Log: os.Stderr}
}

// QuickDEFConfig is a minutes-long smoke version for CI and notebooks' quick mode. It writes to
// its own folder (out/rpn-def-quick), never over a full run's results.
func QuickDEFConfig() DEFConfig {
	c := DefaultDEFConfig()
	c.TrainSize, c.EvalSize, c.Epochs, c.ProxyEpochs, c.GradCheck = 512, 128, 2, 2, 20
	c.Quick, c.OutDir = true, "out/rpn-def-quick"
	return c
}

// EpochRecord is one epoch of one routine.
type EpochRecord struct {
	Epoch   int              `json:"epoch"`
	Loss    float64          `json:"loss"`
	CE      float64          `json:"ce"`
	MSE     float64          `json:"mse,omitempty"`
	Lambda  float64          `json:"lambda"`
	Tau     float64          `json:"tau,omitempty"`
	Val     metrics.Accuracy `json:"val"`
	Test    metrics.Accuracy `json:"test"`
	Seconds float64          `json:"seconds"`
}

// RoutineResult is the outcome of one routine.
type RoutineResult struct {
	Routine
	Epochs    []EpochRecord    `json:"epochs"`
	BestVal   float64          `json:"best_val_exact"`
	FinalTest metrics.Accuracy `json:"final_test"`
	Seconds   float64          `json:"seconds"`
	MsPerStep float64          `json:"ms_per_step"`
}

// DEFResults is what the rpn-def experiment writes to results.json: its provenance (command,
// build, hardware, date, quick), the resolved configuration of the experiment, the generator and
// the proxy, and the numbers.
type DEFResults struct {
	Provenance
	Config       DEFConfig          `json:"config"`
	Model        map[string]any     `json:"model"` // the generator's settings and vocabulary sizes
	Proxy        map[string]any     `json:"proxy"` // the proxy executor's settings
	Seed         map[string]float64 `json:"seed_000"`
	ProxyMSE     float64            `json:"proxy_val_mse"`
	ProxyVar     float64            `json:"proxy_val_output_variance"`
	ProxySeconds float64            `json:"proxy_seconds"`
	Gradient     *def.GradReport    `json:"proxy_gradient_quality,omitempty"`
	Tuning       []TuneResult       `json:"tuning,omitempty"`
	Routines     []RoutineResult    `json:"routines"`
	Seconds      float64            `json:"seconds"`
}

// defSetup is what every routine of an rpn-def run shares: data, vocabularies, the proxy.
type defSetup struct {
	backend          compute.Backend
	model            *seq2seq.Model
	split            rpn.Split
	train, val, test *seq2seq.Encoded
	proxy            *proxy.Trained
	known            map[string]Routine
	res              *DEFResults
}

// RunDEF runs the rpn-def experiment: it makes (or loads) the data, pre-trains the proxy
// executor, optionally tunes each routine's learning rate (and λ) with TPE, trains each routine
// from the same initial weights, and writes results.json and accuracy.svg to cfg.OutDir.
//
// The run keeps its whole state in cfg.OutDir/checkpoint.gob (defState): after the proxy's
// pre-training, after every tuning and every routine, at the end of an epoch when
// cfg.CheckpointEvery has passed, and when cfg.Context is cancelled (then it returns an
// *Interrupted error). With cfg.Resume it continues from that checkpoint and gives the numbers an
// uninterrupted run gives; a finished run deletes it.
func RunDEF(cfg DEFConfig) (*DEFResults, error) {
	start := time.Now()
	s, st, err := setupDEF(cfg)
	if err != nil {
		return nil, err
	}
	res := s.res
	path := CheckpointPath(cfg.OutDir)
	elapsed := func() float64 { return st.Seconds + since(start) }
	// Each routine's results are written as it finishes (complete: false until the last).
	save := func() error {
		res.Seconds = elapsed()
		if _, err := WriteJSON(cfg.OutDir, "results.json", res); err != nil {
			return err
		}
		return WriteFileAtomic(filepath.Join(cfg.OutDir, "accuracy.svg"), []byte(DEFPlot(res).SVG()), 0o644)
	}
	checkpoint := func(current *routineState) error {
		st.Provenance, st.Seconds, st.Tuning, st.Routines, st.Current = res.Provenance, elapsed(), res.Tuning, res.Routines, current
		start = time.Now()
		return SaveCheckpoint(path, "rpn-def", cfg, st)
	}
	interrupted := func(current *routineState) error { return interruption("rpn-def", path, cfg.Log, checkpoint(current)) }
	if st.fresh && st.Proxy != nil { // minutes of pre-training not to lose
		if err := checkpoint(nil); err != nil {
			return nil, err
		}
	}
	clock := newCheckpointClock(cfg.CheckpointEvery)
	for i, name := range cfg.Routines {
		if i < len(res.Routines) {
			continue // done before the run was interrupted
		}
		if stopped(cfg.Context) {
			return nil, interrupted(nil)
		}
		r := s.known[name]
		if cfg.TuneTrials > 0 {
			if i == len(res.Tuning) { // an interrupted tuning starts again
				tr, err := tuneRoutine(s, cfg, r)
				if err != nil && stopped(cfg.Context) {
					return nil, interrupted(nil)
				}
				if err != nil {
					return nil, fmt.Errorf("tuning %s: %w", name, err)
				}
				res.Tuning = append(res.Tuning, *tr)
				if err := checkpoint(nil); err != nil {
					return nil, err
				}
			}
			r.LR, r.Lambda = res.Tuning[i].BestLR, res.Tuning[i].BestLambda
		}
		ck := &routineCheckpoints{from: st.Current, clock: clock, save: checkpoint}
		st.Current = nil
		out, err := runRoutine(s, cfg, r, cfg.Epochs, cfg.Log, ck)
		if errors.Is(err, ErrInterrupted) {
			return nil, interrupted(ck.last)
		}
		if err != nil {
			return nil, fmt.Errorf("routine %s: %w", name, err)
		}
		res.Routines = append(res.Routines, *out)
		res.Complete = len(res.Routines) == len(cfg.Routines)
		if err := save(); err != nil {
			return nil, err
		}
		if !res.Complete {
			if err := checkpoint(nil); err != nil {
				return nil, err
			}
		}
	}
	return res, dropCheckpoint(cfg.OutDir, "rpn-def")
}

// defState is the whole state of an rpn-def run part way, as its checkpoint holds it: the
// routines done and the partial results, the trained proxy, and the routine part way through.
type defState struct {
	Provenance Provenance
	Seconds    float64 // the run's time so far
	// Proxy is the pre-trained proxy's store (trainer.Marshal; nil when no routine needs one),
	// with its measurements, so that a resumed run does not train it again.
	Proxy                            []byte
	ProxyMSE, ProxyVar, ProxySeconds float64
	Gradient                         *def.GradReport
	Tuning                           []TuneResult
	Routines                         []RoutineResult // the routines done
	Current                          *routineState   // the routine part way through (nil: none)

	fresh bool // not read from a checkpoint
}

// routineState is a routine part way through: with it runRoutine continues as if it had never
// stopped.
type routineState struct {
	Result RoutineResult // the routine (with its tuned LR and λ), the epochs done and BestVal
	Store  []byte        // the generator's store (trainer.Marshal): weights, Adam state, the Gumbel noise RNG
	// Shuffle and Inputs are the PCG sources (MarshalBinary) of the data order and of DEF's
	// random program inputs.
	Shuffle, Inputs []byte
	// Batches is the current epoch's data order, when the routine stopped part way through an
	// epoch (nil at an epoch's end); Done of them are trained, Sums are the sums of the step's
	// values over those.
	Batches      [][]int
	Done         int
	Sums         []float64
	Steps        int     // steps trained in the routine
	Seconds      float64 // the routine's time so far...
	EpochSeconds float64 // ... and the current epoch's
}

// routineCheckpoints is how runRoutine takes part in its run's checkpoints: it continues from
// from (nil: fresh weights), saves at an epoch's end when clock is due and when the run's context
// is cancelled, and leaves the state it saved last in last.
type routineCheckpoints struct {
	from  *routineState
	clock *checkpointClock
	save  func(*routineState) error
	last  *routineState
}

// check validates the configuration and returns the routines it knows.
func (cfg DEFConfig) check() (map[string]Routine, error) {
	if cfg.Epochs <= 0 || cfg.Batch <= 0 || cfg.LR <= 0 || cfg.Lambda < 0 || cfg.TuneTrials < 0 || cfg.TuneEpochs < 0 ||
		cfg.TrainSize < 0 || cfg.EvalSize < 0 || cfg.ProxyEpochs <= 0 || cfg.ProxyLR <= 0 || cfg.GradCheck < 0 || cfg.LRFinal < 0 {
		return nil, fmt.Errorf("rpn-def: bad config: epochs %d, batch %d, lr %g, lr final %g, lambda %g, tune trials %d, tune epochs %d, "+
			"train size %d, eval size %d, proxy epochs %d, proxy lr %g, grad check %d",
			cfg.Epochs, cfg.Batch, cfg.LR, cfg.LRFinal, cfg.Lambda, cfg.TuneTrials, cfg.TuneEpochs, cfg.TrainSize, cfg.EvalSize,
			cfg.ProxyEpochs, cfg.ProxyLR, cfg.GradCheck)
	}
	known := Routines(cfg.Lambda)
	if len(cfg.Routines) == 0 {
		return nil, fmt.Errorf("rpn-def: no routine to train")
	}
	for i, name := range cfg.Routines {
		if _, ok := known[name]; !ok {
			return nil, fmt.Errorf("rpn-def: unknown routine %q (known: %s)", name, strings.Join(sortedKeys(known), ", "))
		}
		if slices.Contains(cfg.Routines[:i], name) {
			return nil, fmt.Errorf("rpn-def: routine %q listed twice", name)
		}
		if name != "baseline" && cfg.Lambda == 0 {
			return nil, fmt.Errorf("rpn-def: routine %q with λ = 0 would train plain CE, as the baseline does", name)
		}
	}
	return known, nil
}

// modelSettings are a generator's settings and vocabulary sizes, as results record them.
func modelSettings(m *seq2seq.Model) map[string]any {
	s := Settings(m.Cfg)
	s["description_vocab"], s["program_vocab"] = m.Src.Size(), m.Tgt.Size()
	return s
}

// proxyDefault is the proxy executor's configuration in rpn-def.
func proxyDefault() proxy.Config { return proxy.DefaultConfig() }

// setupDEF makes what the routines share and the run's state: read from the checkpoint in
// cfg.OutDir with cfg.Resume, else fresh (and then an unfinished run's checkpoint there is an error).
func setupDEF(cfg DEFConfig) (*defSetup, *defState, error) {
	s, st, err := setupDEFData(cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := setupProxy(s, cfg, st); err != nil {
		return nil, nil, err
	}
	return s, st, nil
}

// openDEFState reads the run's state from its checkpoint when cfg.Resume asks for it.
func openDEFState(cfg DEFConfig) (*defState, error) {
	st := &defState{}
	ok, err := readCheckpoint(cfg.OutDir, "rpn-def", cfg, st, cfg.Resume, cfg.Log)
	if err != nil || !ok {
		return &defState{fresh: true}, err
	}
	where := ""
	if c := st.Current; c != nil {
		where = fmt.Sprintf(", %s at epoch %d step %d", c.Result.Name, len(c.Result.Epochs)+1, c.Done)
	}
	logf(cfg.Log, "rpn-def: resuming from %s: %d of %d routines done%s\n", CheckpointPath(cfg.OutDir), len(st.Routines), len(cfg.Routines), where)
	return st, nil
}

func setupDEFData(cfg DEFConfig) (*defSetup, *defState, error) {
	log := cfg.Log
	known, err := cfg.check()
	if err != nil {
		return nil, nil, err
	}
	backend, err := Backend(cfg.Backend)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckOutDir(cfg.OutDir); err != nil {
		return nil, nil, fmt.Errorf("rpn-def: %w", err)
	}
	st, err := openDEFState(cfg)
	if err != nil {
		return nil, nil, err
	}
	split, err := loadOrGenerate(cfg.Dialect, cfg.DataDir, cfg.DataSeed)
	if err != nil {
		return nil, nil, err
	}
	if cfg.TrainSize > len(split.Train) || cfg.EvalSize > min(len(split.Val), len(split.Test)) {
		return nil, nil, fmt.Errorf("rpn-def: %d training and %d evaluation examples requested, %s has %d, %s and %s %d and %d",
			cfg.TrainSize, cfg.EvalSize, dataName(cfg.DataDir, "train"), len(split.Train),
			dataName(cfg.DataDir, "val"), dataName(cfg.DataDir, "test"), len(split.Val), len(split.Test))
	}
	if cfg.TrainSize > 0 {
		split.Train = split.Train[:cfg.TrainSize]
	}
	if cfg.EvalSize > 0 {
		split.Val, split.Test = split.Val[:cfg.EvalSize], split.Test[:cfg.EvalSize]
	}
	m := seq2seq.NewModel(seq2seq.DefaultConfig(), cfg.Dialect, split.Train)
	s := &defSetup{backend: backend, model: m, split: split, known: known}
	for _, part := range []struct {
		name     string
		examples []rpn.Example
		dst      **seq2seq.Encoded
	}{{"train", split.Train, &s.train}, {"val", split.Val, &s.val}, {"test", split.Test, &s.test}} {
		if *part.dst, err = m.Prepare(part.examples); err != nil {
			return nil, nil, fmt.Errorf("rpn-def: %s: %w", dataName(cfg.DataDir, part.name), err)
		}
		if n := (*part.dst).Unknown; n > 0 {
			logf(log, "rpn-def: %s: %d description words not in %s, read as <unk>\n",
				dataName(cfg.DataDir, part.name), n, dataName(cfg.DataDir, "train"))
		}
	}
	res := &DEFResults{Provenance: newProvenance("rpn-def", cfg.Quick, cfg.Command), Config: cfg, Seed: Seed000,
		Model: modelSettings(m), Proxy: Settings(proxyDefault())}
	res.Config.Log = nil
	if !st.fresh {
		res.Provenance, res.Tuning, res.Routines = st.Provenance, st.Tuning, st.Routines
	}
	s.res = res
	logf(log, "rpn-def: %d/%d/%d examples, backend %s, %s\n", s.train.Len(), s.val.Len(), s.test.Len(), backend.Name(), res.Hardware)
	return s, st, nil
}

// setupProxy pre-trains the proxy executor on the training programs and measures it, or takes
// it from a resumed run's state.
func setupProxy(s *defSetup, cfg DEFConfig, st *defState) error {
	log, known, m, split, res := cfg.Log, s.known, s.model, s.split, s.res
	if !slices.ContainsFunc(cfg.Routines, func(n string) bool { return known[n].Lambda > 0 && !known[n].Exact }) {
		return nil
	}
	t0 := time.Now()
	px, err := proxy.New(s.backend, proxyDefault(), m.Tgt, cfg.Dialect, cfg.Batch, cfg.Seed)
	if err != nil {
		return err
	}
	s.proxy = px
	if st.Proxy != nil {
		res.ProxyMSE, res.ProxyVar, res.ProxySeconds, res.Gradient = st.ProxyMSE, st.ProxyVar, st.ProxySeconds, st.Gradient
		return trainer.Unmarshal(px.Store, st.Proxy, CheckpointPath(cfg.OutDir))
	}
	ptrain, err := px.NewData(programs(split.Train), m.Cfg.TgtLen)
	if err != nil {
		return err
	}
	pval, err := px.NewData(programs(split.Val), m.Cfg.TgtLen)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 7))
	err = px.Fit(ptrain, cfg.ProxyEpochs, cfg.ProxyLR, rng, func(epoch int, mse float64) {
		logf(log, "proxy epoch %d/%d train MSE %.2f\n", epoch+1, cfg.ProxyEpochs, mse)
	})
	if err != nil {
		return fmt.Errorf("proxy pre-training: %w", err)
	}
	if res.ProxyMSE, err = px.MSE(pval, rand.New(rand.NewPCG(uint64(cfg.Seed), 8))); err != nil {
		return err
	}
	res.ProxyVar = outputVariance(cfg.Dialect, px, programs(split.Val), rand.New(rand.NewPCG(uint64(cfg.Seed), 8)))
	res.ProxySeconds = since(t0)
	logf(log, "proxy: held-out MSE %.2f (output variance %.1f; seed 000: 28.8) in %.0fs\n", res.ProxyMSE, res.ProxyVar, res.ProxySeconds)
	if cfg.GradCheck > 0 {
		n := min(cfg.GradCheck, len(split.Val))
		rep, err := def.GradientQuality(px, programs(split.Val[:n]), rand.New(rand.NewPCG(uint64(cfg.Seed), 9)))
		if err != nil {
			return fmt.Errorf("gradient check: %w", err)
		}
		res.Gradient = &rep
		logf(log, "proxy gradient vs true executor: cosine %.3f, sign agreement %.1f%% over %d directions of %d programs\n",
			rep.MeanCosine, 100*rep.SignAgreement, rep.Directions, rep.Programs)
	}
	st.ProxyMSE, st.ProxyVar, st.ProxySeconds, st.Gradient = res.ProxyMSE, res.ProxyVar, res.ProxySeconds, res.Gradient
	st.Proxy, err = trainer.Marshal(px.Store)
	return err
}

// runRoutine trains routine r for the given number of epochs from fresh weights (cfg.Seed), or
// from ck.from, and evaluates it on val and test after every epoch. It shows its progress on a
// bar and one line per epoch in log (nil: silent). It checks cfg.Context before every step: when
// cancelled it returns ErrInterrupted, leaving its state in ck.last when ck is not nil.
func runRoutine(s *defSetup, cfg DEFConfig, r Routine, epochs int, log io.Writer, ck *routineCheckpoints) (*RoutineResult, error) {
	m, px, train, val, test, split := s.model, s.proxy, s.train, s.val, s.test, s.split
	gen, err := seq2seq.NewGenerator(s.backend, m, cfg.Batch, cfg.Seed)
	if err != nil {
		return nil, err
	}
	lr := cfg.LR
	if r.LR > 0 {
		lr = r.LR
	}
	opt := optimizer.Adam().LearningRate(lr).Done()
	var step *trainer.Step
	// extra gives a step's inputs after the batch's tensors (DEF's random program inputs).
	extra := func(seq2seq.Batch) ([]any, error) { return nil, nil }
	shuffle, inputSource := rand.NewPCG(uint64(cfg.Seed), 1), rand.NewPCG(uint64(cfg.Seed), 2)
	rng, inputRng := rand.New(shuffle), rand.New(inputSource)
	lambda, tau := 0.0, r.TauStart
	warm := r.WarmupEpochs
	if warm < 0 {
		warm = max(1, epochs/2)
	}
	if r.Lambda == 0 {
		step, err = gen.CEStep(opt)
	} else {
		exec, inputs, xerr := defExecutor(gen, px, r, cfg.Dialect)
		if xerr != nil {
			return nil, xerr
		}
		step, err = def.Step(gen, exec, opt, r.StraightThrough)
		extra = func(b seq2seq.Batch) ([]any, error) {
			progs := make([][]string, len(b.Index))
			for i, idx := range b.Index {
				progs[i] = split.Train[idx].ProgramTokens()
			}
			in, outs, err := proxy.Targets(cfg.Dialect, progs, inputs.RandomInputs(inputRng, len(progs)), inputs.Cfg.K)
			if err != nil {
				return nil, fmt.Errorf("reference outputs: %w", err)
			}
			return []any{in, outs, def.Hyper(lambda), def.Hyper(tau)}, nil
		}
	}
	if err != nil {
		return nil, err
	}
	st := &routineState{Result: RoutineResult{Routine: r}}
	if ck != nil && ck.from != nil {
		if st = ck.from; st.Result.Name != r.Name {
			return nil, fmt.Errorf("the checkpoint holds routine %s part way, not %s", st.Result.Name, r.Name)
		}
		from := CheckpointPath(cfg.OutDir)
		if err := trainer.Unmarshal(gen.Store, st.Store, from); err != nil {
			return nil, err
		}
		if err := errors.Join(shuffle.UnmarshalBinary(st.Shuffle), inputSource.UnmarshalBinary(st.Inputs)); err != nil {
			return nil, fmt.Errorf("checkpoint %s: random number generators: %w", from, err)
		}
	}
	out := &st.Result
	// snapshot completes st with the generator's store and the generators' states.
	snapshot := func(t0, te time.Time) error {
		st.Seconds, st.EpochSeconds = since(t0), since(te)
		sh, err1 := shuffle.MarshalBinary()
		in, err2 := inputSource.MarshalBinary()
		store, err3 := trainer.Marshal(gen.Store)
		st.Shuffle, st.Inputs, st.Store = sh, in, store
		return errors.Join(err1, err2, err3)
	}
	perEpoch := train.Len() / cfg.Batch
	var bar *progress.Bar
	if log != nil {
		bar = progress.New(log, r.Name, epochs*perEpoch, "step").From(st.Steps)
		defer bar.Done()
	}
	summary := ""
	t0 := time.Now().Add(-seconds(st.Seconds))
	for epoch := len(out.Epochs); epoch < epochs; epoch++ {
		te := time.Now().Add(-seconds(st.EpochSeconds))
		lambda = r.Lambda
		if warm > 0 && epoch < warm {
			lambda = r.Lambda * float64(epoch) / float64(warm)
		}
		if epochs > 1 && r.TauEnd > 0 {
			tau = r.TauStart * math.Pow(r.TauEnd/r.TauStart, float64(epoch)/float64(epochs-1))
		}
		if st.Batches == nil { // a new epoch (else the one a resumed routine stopped in)
			if epoch > 0 && cfg.LRFinal > 0 && epochs > 1 {
				frac := float64(epoch) / float64(epochs-1)
				if err := gen.SetLearningRate(lr * (1 - frac*(1-cfg.LRFinal))); err != nil {
					return nil, err
				}
			}
			st.Batches, st.Done, st.Sums = train.Epoch(cfg.Batch, rng, true), 0, nil
			if len(st.Batches) == 0 {
				return nil, fmt.Errorf("training set of %d examples is smaller than one batch of %d", train.Len(), cfg.Batch)
			}
		}
		for ; st.Done < len(st.Batches); st.Done++ {
			if stopped(cfg.Context) {
				if ck == nil {
					return nil, ErrInterrupted
				}
				if err := snapshot(t0, te); err != nil {
					return nil, err
				}
				ck.last = st
				return nil, ErrInterrupted
			}
			b := train.Batch(st.Batches[st.Done], cfg.Batch)
			more, err := extra(b)
			if err != nil {
				return nil, err
			}
			vals, err := step.Run(append([]any{b.Src, b.SrcLen, b.DecIn, b.Tgt}, more...)...)
			if err != nil {
				return nil, err
			}
			if st.Sums == nil {
				st.Sums = make([]float64, len(vals))
			}
			for j, v := range vals {
				st.Sums[j] += v
			}
			st.Steps++
			bar.Update(st.Steps, fmt.Sprintf("epoch %d/%d, loss %.4f%s", epoch+1, epochs, vals[0], summary))
		}
		vals := st.Sums
		for j := range vals {
			vals[j] /= float64(len(st.Batches))
		}
		rec := EpochRecord{Epoch: epoch + 1, Loss: vals[0], CE: vals[0], Lambda: lambda}
		if len(vals) == 3 {
			rec.CE, rec.MSE, rec.Tau = vals[1], vals[2], tau
		}
		if rec.Val, err = evaluate(gen, cfg.Dialect, val, split.Val); err != nil {
			return nil, err
		}
		if rec.Test, err = evaluate(gen, cfg.Dialect, test, split.Test); err != nil {
			return nil, err
		}
		rec.Seconds = since(te)
		out.Epochs = append(out.Epochs, rec)
		out.BestVal = max(out.BestVal, rec.Val.Exact)
		st.Batches, st.Done, st.Sums, st.EpochSeconds = nil, 0, nil, 0
		summary = fmt.Sprintf(", val exact %.2f%%", 100*rec.Val.Exact)
		bar.Printf("%-18s epoch %2d/%d  loss %.4f  val exact %.2f%% func %.2f%%  test exact %.2f%%  (%.0fs)\n",
			r.Name, epoch+1, epochs, rec.Loss, 100*rec.Val.Exact, 100*rec.Val.Functional, 100*rec.Test.Exact, rec.Seconds)
		if ck != nil && epoch+1 < epochs && ck.clock.due() {
			if err := snapshot(t0, time.Now()); err != nil {
				return nil, err
			}
			if err := ck.save(st); err != nil {
				return nil, err
			}
		}
	}
	out.Seconds = since(t0)
	out.FinalTest = out.Epochs[len(out.Epochs)-1].Test
	out.MsPerStep = 1000 * out.Seconds / float64(max(st.Steps, 1))
	return out, nil
}

// seconds is x seconds as a duration.
func seconds(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }

func evaluate(gen *seq2seq.Generator, d rpn.Dialect, data *seq2seq.Encoded, examples []rpn.Example) (metrics.Accuracy, error) {
	preds, err := gen.Predict(data)
	if err != nil {
		return metrics.Accuracy{}, err
	}
	return metrics.Score(d, preds, examples)
}

// DEFPlot draws validation exact-match and functional accuracy per epoch for every routine.
func DEFPlot(res *DEFResults) *plot.Curve {
	var names []string
	for _, r := range res.Routines {
		names = append(names, r.Name+" exact", r.Name+" functional")
	}
	c := plot.NewCurve("rpn-def: validation accuracy per epoch", "epoch", names...)
	c.Static = true
	epochs := 0
	for _, r := range res.Routines {
		epochs = max(epochs, len(r.Epochs))
	}
	for e := range epochs {
		ys := make([]float64, 0, len(names))
		for _, r := range res.Routines {
			if e < len(r.Epochs) {
				ys = append(ys, r.Epochs[e].Val.Exact, r.Epochs[e].Val.Functional)
			} else {
				ys = append(ys, math.NaN(), math.NaN())
			}
		}
		c.Add(float64(e+1), ys...)
	}
	return c
}

// DEFTable renders the results beside seed 000's numbers as rows for a text or HTML table.
func DEFTable(res *DEFResults) (header []string, rows [][]string) {
	header = []string{"routine", "λ", "best val exact", "test exact", "test functional", "seed 000 test exact", "ms/step"}
	for _, r := range res.Routines {
		seed := ""
		switch r.Name {
		case "baseline":
			seed = "98.75%"
		case "def":
			seed = "84.05%"
		}
		rows = append(rows, []string{r.Name, fmt.Sprintf("%g", r.Lambda), pct(r.BestVal), pct(r.FinalTest.Exact),
			pct(r.FinalTest.Functional), seed, fmt.Sprintf("%.0f", r.MsPerStep)})
	}
	return header, rows
}

func pct(x float64) string { return fmt.Sprintf("%.2f%%", 100*x) }

func programs(examples []rpn.Example) [][]string {
	out := make([][]string, len(examples))
	for i, ex := range examples {
		out[i] = ex.ProgramTokens()
	}
	return out
}

func outputVariance(d rpn.Dialect, px *proxy.Trained, progs [][]string, rng *rand.Rand) float64 {
	_, outs, err := proxy.Targets(d, progs, px.RandomInputs(rng, len(progs)), px.Cfg.K)
	if err != nil {
		return math.NaN()
	}
	var sum, sq float64
	var n float64
	for _, v := range tensorsFloat(outs) {
		sum += v
		sq += v * v
		n++
	}
	mean := sum / n
	return sq/n - mean*mean
}

// dataName names part ("train", "val" or "test") of rpn-def's data in messages: its file with
// -data DIR, else the generated set's part.
func dataName(dir, part string) string {
	if dir != "" {
		return rpn.SplitFile(dir, part)
	}
	return map[string]string{"train": "the generated training set", "val": "the generated validation set",
		"test": "the generated test set"}[part]
}

func loadOrGenerate(d rpn.Dialect, dir string, seed uint64) (rpn.Split, error) {
	if dir != "" {
		return rpn.LoadSplit(dir, d)
	}
	cfg := rpn.DefaultGenConfig(d)
	cfg.Seed = seed
	return rpn.Generate(cfg)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

package experiment

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/gpt"
	"github.com/execfeed/execfeed/lib/plot"
	"github.com/execfeed/execfeed/lib/progress"
	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/rpntask"
	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/lib/trainer"
)

// The reinforcement-learning experiments (rpn-coderl, rpn-eta, rpn-egca) share one harness: the
// same data, the same supervised start, the same sample budget per iteration and the same
// evaluation, so their methods can be compared side by side.
//
// The split is deliberately harder than seed 000's: labelled programs are scarce (SFTSize
// examples, on which CE alone stops far from perfect), while descriptions with unit tests are
// plentiful (PromptSize further prompts). Every method starts from the same CE-trained
// ("SFT") generator and then learns only from running its own samples on the prompts' tests; the
// prompts' reference programs are never imitated (they serve the structure rewards, the trace
// comparisons of ETA-DPO and EGCA, and the tests' expected outputs).

// RLConfig configures an RL experiment.
type RLConfig struct {
	Experiment string      `json:"experiment"` // one of RLExperiments
	Methods    []string    `json:"methods"`    // see RLMethodsOf; "sft" is the supervised start itself
	Dialect    rpn.Dialect `json:"dialect"`    // the RPN dialect of the rpn-* experiments
	DataSeed   uint64      `json:"data_seed"`
	// SFTSize labelled examples train the start; PromptSize further training descriptions (with
	// tests) are the RL prompts; EvalSize test examples are the held-out evaluation.
	SFTSize    int     `json:"sft_size"`
	PromptSize int     `json:"prompt_size"`
	EvalSize   int     `json:"eval_size"`
	SFTEpochs  int     `json:"sft_epochs"`
	SFTLR      float64 `json:"sft_lr"`
	// Iters is the number of RL iterations per method; each samples Batch programs.
	Iters int `json:"iters"`
	Batch int `json:"batch"`
	// Tests is the number of unit tests (random inputs) per prompt.
	Tests int `json:"tests"`
	// CriticWarmup is the number of first iterations in which the critic methods train only their
	// critic (default 20, rl.DefaultReinforceConfig; quick 2 so that quick runs update the policy).
	CriticWarmup int `json:"critic_warmup"`
	// Samples per test prompt for pass@k (k = 1, 5, 10 up to Samples), at temperature 1.
	Samples int `json:"samples"`
	// EvalEvery is how often (iterations) the greedy test accuracy is recorded for the curves.
	EvalEvery int     `json:"eval_every"`
	Seeds     []int64 `json:"seeds"`
	OutDir    string  `json:"out_dir"`
	Backend   string  `json:"backend"`
	// Workers is the number of Python sandbox processes (Python experiments; default the cores,
	// at most 4). Exec, if set, runs the programs on remote execution servers instead
	// (comma-separated URLs of `kernel serve` or SandboxFusion servers; see docs/SERVE.md).
	Workers int    `json:"workers,omitempty"`
	Exec    string `json:"exec,omitempty"`
	// GRPOLoss, GRPOScale and EpsHigh choose GRPO's variant for the grpo and egca methods: the
	// loss normalisation (rl.Aggregation: sum, grpo, dr_grpo, dapo; default sum), the advantage
	// scaling (group, batch, none; default group) and DAPO's upper clip (0: symmetric).
	GRPOLoss  string  `json:"grpo_loss,omitempty"`
	GRPOScale string  `json:"grpo_scale,omitempty"`
	EpsHigh   float64 `json:"eps_high,omitempty"`
	// Model is the generator: "gru" (the default of the rpn-* experiments and py-grpo) or "gpt",
	// the GPT-2 transformer (py-coderl, py-eta, py-egca), sized by GPT, trained from scratch with
	// a BPE trained on the training texts or, with ModelDir, loaded from a Hugging Face checkpoint
	// directory. See model.go.
	Model    string     `json:"model,omitempty"`
	ModelDir string     `json:"model_dir,omitempty"`
	GPT      *GPTConfig `json:"gpt,omitempty"`
	// Problems, if set, is a HumanEval or MBPP JSONL file (Format) replacing the synthetic task
	// family: its first Subset problems are at once the SFT set, the RL prompts and the test set
	// (seed 001's set-up: a 10-problem HumanEval subset). See rldata.go.
	Problems string `json:"problems,omitempty"`
	Format   string `json:"format,omitempty"`
	Subset   int    `json:"subset,omitempty"`
	// SFTCache, if set, is a folder where the transformer's SFT start of each seed is saved as a
	// Hugging Face checkpoint, under a name made of everything that decides it (data, sizes, SFT
	// settings, model, seed), and loaded instead of retrained when it is there: py-coderl,
	// py-eta and py-egca with the same settings share one start per seed.
	SFTCache string `json:"sft_cache,omitempty"`
	// Quick marks the smoke-test preset (QuickRLConfig): its numbers say nothing about the methods.
	Quick bool `json:"quick"`
	// LongRun: -resume (resume.go), Ctrl-C and the checkpoint interval.
	LongRun `json:"-"`
	// Command is the command line that asked for the run, recorded in the results (set by the CLI).
	Command []string  `json:"-"`
	Log     io.Writer `json:"-"`
}

// DefaultRLConfig is the documented run of experiment name on the CPU default.
func DefaultRLConfig(name string) (RLConfig, error) {
	cfg := RLConfig{Experiment: name, Dialect: rpn.Ext, DataSeed: 1, SFTSize: 300, PromptSize: 2000, EvalSize: 300,
		SFTEpochs: 30, SFTLR: 3e-3, Iters: 300, CriticWarmup: rl.DefaultReinforceConfig().CriticWarmup, Batch: 64, Tests: rpntask.DefaultTests, Samples: 10, EvalEvery: 50,
		Seeds: []int64{1, 2, 3}, OutDir: filepath.Join("out", name)}
	methods, err := RLMethodsOf(name)
	if err != nil {
		return cfg, err
	}
	cfg.Methods = slices.Clone(methods)
	if name == "py-grpo" {
		// The Python task family with the GRU generator (pytask): programs are 3-6 times longer
		// than RPN's, so fewer iterations fit the same time.
		cfg.DataSeed, cfg.SFTSize, cfg.PromptSize, cfg.EvalSize, cfg.SFTEpochs, cfg.Iters = 1, 600, 3000, 200, 30, 150
	}
	if isPython(name) && name != "py-grpo" {
		// The transformer on the Python task family (pyrl.go).
		pyGPTDefaults(&cfg)
	}
	return cfg, nil
}

// RLExperiments are the names RunRL knows.
var RLExperiments = []string{"rpn-coderl", "rpn-eta", "rpn-egca", "py-grpo", "py-coderl", "py-eta", "py-egca"}

// rlFamilies are the methods each RL experiment compares (its default, in this order): a run of
// an experiment trains only its own methods, so that results are labelled by what they compare.
var rlFamilies = map[string][]string{
	"rpn-coderl": {"sft", "reinforce", "reinforce+critic", "reinforce+critic+struct"},
	"rpn-eta":    {"sft", "ppo", "eta-dpo"},
	"rpn-egca":   {"sft", "grpo", "egca"},
	"py-grpo":    {"sft", "grpo", "egca"},
	"py-coderl":  {"sft", "reinforce", "reinforce+critic", "reinforce+critic-balanced", "reinforce+critic+struct"},
	"py-eta":     {"sft", "ppo", "ppo-1epoch", "eta-dpo"},
	"py-egca":    {"sft", "grpo", "egca"},
}

// RLMethodsOf lists the methods experiment name compares.
func RLMethodsOf(name string) ([]string, error) {
	m, ok := rlFamilies[name]
	if !ok {
		return nil, fmt.Errorf("unknown RL experiment %q (known: %s)", name, strings.Join(RLExperiments, ", "))
	}
	return m, nil
}

// QuickRLConfig is a smoke run of experiment name for CI and notebooks' quick mode. It writes to
// its own folder (out/NAME-quick), never over a full run's results.
func QuickRLConfig(name string) (RLConfig, error) {
	cfg, err := DefaultRLConfig(name)
	cfg.SFTSize, cfg.PromptSize, cfg.EvalSize, cfg.SFTEpochs = 200, 128, 48, 10
	cfg.Iters, cfg.Samples, cfg.EvalEvery, cfg.Seeds, cfg.CriticWarmup = 4, 5, 2, []int64{1}, 2
	cfg.Quick, cfg.OutDir = true, filepath.Join("out", name+"-quick")
	if err == nil && cfg.Model == ModelGPT {
		pyGPTQuick(&cfg)
	}
	return cfg, err
}

// rlMethod builds a method on a policy started from the SFT weights; group is the number of
// samples per prompt it wants in a batch; config is the method's resolved configuration (an
// rl.*Config, recorded in the results with the reward's name).
type rlMethod struct {
	group  int
	config any
	reward string
	build  func(pol, ref rl.Policy, task, labelled *rl.Task, seed int64) (rl.Method, error)
}

// settings is what the results record of the method.
func (m rlMethod) settings() map[string]any {
	s := Settings(m.config)
	s["group"], s["reward"] = m.group, m.reward
	return s
}

// RLMethodSettings are the resolved settings of cfg's methods (learning rates, clip, KL β, group
// size, DPO β, reward...), by method, as results files record them.
func RLMethodSettings(cfg RLConfig) map[string]map[string]any {
	known := RLMethods(cfg)
	out := map[string]map[string]any{}
	for _, name := range cfg.Methods {
		if m, ok := known[name]; ok {
			out[name] = m.settings()
		}
	}
	return out
}

// StructReward is the reward of "reinforce+critic+struct": seed 004's compiler signal (eq. 4.6)
// plus half the AST-subtree match (eq. 4.8) and half the data-flow match (eq. 4.9).
var StructReward = reward.Sum([]float64{1, 0.5, 0.5}, reward.Outcome, reward.AST, reward.DFG)

// RLMethods lists the methods the RL experiments know, configured by cfg (the critic's warm-up,
// GRPO's variant).
func RLMethods(cfg RLConfig) map[string]rlMethod {
	reinforce := func(critic, balanced bool, f reward.Func, name string) rlMethod {
		rc := rl.DefaultReinforceConfig()
		rc.Critic, rc.BalancedCritic, rc.Reward, rc.CriticWarmup = critic, balanced, f, cfg.CriticWarmup
		return rlMethod{group: 1, config: rc, reward: name, build: func(pol, _ rl.Policy, task, lab *rl.Task, seed int64) (rl.Method, error) {
			return rl.NewReinforce(rc, pol, task, lab, seed)
		}}
	}
	grpo := func(egca bool) rlMethod {
		gc := rl.DefaultGRPOConfig()
		gc.EGCA, gc.EpsHigh = egca, cfg.EpsHigh
		if cfg.GRPOLoss != "" {
			gc.Loss = rl.Aggregation(cfg.GRPOLoss)
		}
		if cfg.GRPOScale != "" {
			gc.Scale = cfg.GRPOScale
		}
		return rlMethod{group: 8, config: gc, reward: "passed", build: func(pol, ref rl.Policy, task, _ *rl.Task, _ int64) (rl.Method, error) {
			return rl.NewGRPO(gc, pol, ref, task)
		}}
	}
	ppo, dpo := rl.DefaultPPOConfig(), rl.DefaultDPOConfig()
	// ppo-1epoch is PPO at ETA-DPO's update compute: one policy update per batch of samples
	// instead of four (py-eta reports both budgets).
	ppo1 := ppo
	ppo1.Epochs = 1
	return map[string]rlMethod{
		"reinforce":               reinforce(false, false, reward.Outcome, "outcome (eq. 4.6)"),
		"reinforce+critic":        reinforce(true, false, reward.Outcome, "outcome (eq. 4.6)"),
		"reinforce+critic+struct": reinforce(true, false, StructReward, "outcome + 0.5 ast + 0.5 dfg (eq. 4.6, 4.8, 4.9)"),
		// The critic trained with every outcome class weighted equally (rl.CriticNet.Balanced).
		"reinforce+critic-balanced": reinforce(true, true, reward.Outcome, "outcome (eq. 4.6)"),
		"ppo": {group: 1, config: ppo, reward: "passed", build: func(pol, ref rl.Policy, task, _ *rl.Task, _ int64) (rl.Method, error) {
			return rl.NewPPO(ppo, pol, ref, task)
		}},
		"ppo-1epoch": {group: 1, config: ppo1, reward: "passed", build: func(pol, ref rl.Policy, task, _ *rl.Task, _ int64) (rl.Method, error) {
			return rl.NewPPO(ppo1, pol, ref, task)
		}},
		"eta-dpo": {group: 8, config: dpo, reward: "trace preference", build: func(pol, ref rl.Policy, task, _ *rl.Task, _ int64) (rl.Method, error) {
			return rl.NewDPO(dpo, pol, ref, task)
		}},
		"grpo": grpo(false),
		"egca": grpo(true),
	}
}

// RLPoint is one point of a training curve.
type RLPoint struct {
	Iter           int     `json:"iter"`
	Reward         float64 `json:"reward"`          // mean reward of the iteration's samples
	Pass           float64 `json:"pass"`            // fraction of the iteration's samples that passed
	TestFunctional float64 `json:"test_functional"` // greedy functional accuracy on the test prompts
}

// RLRun is one method trained from one seed.
type RLRun struct {
	Method  string         `json:"method"`
	Seed    int64          `json:"seed"`
	Test    *rl.Evaluation `json:"test"`
	Curve   []RLPoint      `json:"curve,omitempty"`
	Seconds float64        `json:"seconds"` // RL iterations only, without evaluations
	// SamplesPerSecond counts sampled programs (generated, executed and learned from) per second.
	SamplesPerSecond float64  `json:"samples_per_second"`
	Last             rl.Stats `json:"last_stats,omitempty"`
	// Means are the iterations' statistics averaged over the run (e.g. egca_localised, the
	// share of samples EGCA localised; groups_all_equal).
	Means rl.Stats `json:"mean_stats,omitempty"`
	// Phases is where the iterations' time went (sample, execute, update, critic, ...), seconds.
	Phases map[string]float64 `json:"phase_seconds,omitempty"`
	// Critic is the critic's outcome prediction on held-out samples (methods with a critic).
	Critic *rl.CriticReport `json:"critic,omitempty"`
}

// RLSummary is a method's mean and standard deviation over seeds.
type RLSummary struct {
	Method string             `json:"method"`
	Mean   map[string]float64 `json:"mean"`
	Std    map[string]float64 `json:"std"`
	Seeds  int                `json:"seeds"`
}

// RLResults is what an RL experiment writes to results.json: its provenance (command, build,
// hardware, date, quick), the resolved configuration of the experiment, the generator and every
// method, and the numbers.
type RLResults struct {
	Provenance
	Config  RLConfig                  `json:"config"`
	Model   map[string]any            `json:"model"`           // the generator's settings and vocabulary sizes
	Methods map[string]map[string]any `json:"methods"`         // each method's resolved settings
	Dropped int                       `json:"dropped_prompts"` // prompts whose reference fails on almost every input
	Runs    []RLRun                   `json:"runs"`
	Summary []RLSummary               `json:"summary"`
	Seconds float64                   `json:"seconds"`
	// EGCAOverhead is EGCA's wall-clock time per iteration over GRPO's, minus 1, averaged over the
	// seeds that ran both (seed 003 reports 0.18); absent otherwise.
	EGCAOverhead *float64 `json:"egca_overhead,omitempty"`
}

// check validates the configuration.
func (cfg RLConfig) check() error {
	family, err := RLMethodsOf(cfg.Experiment)
	if err != nil {
		return err
	}
	if len(cfg.Methods) == 0 {
		return fmt.Errorf("%s: no method to run", cfg.Experiment)
	}
	for i, name := range cfg.Methods {
		if !slices.Contains(family, name) {
			return fmt.Errorf("%s: unknown method %q (this experiment compares %s)", cfg.Experiment, name, strings.Join(family, ", "))
		}
		if slices.Contains(cfg.Methods[:i], name) {
			return fmt.Errorf("%s: method %q listed twice", cfg.Experiment, name)
		}
	}
	for i, s := range cfg.Seeds {
		if slices.Contains(cfg.Seeds[:i], s) {
			return fmt.Errorf("%s: seed %d listed twice (it would count as two runs)", cfg.Experiment, s)
		}
	}
	if cfg.SFTSize <= 0 || cfg.PromptSize <= 0 || cfg.EvalSize <= 0 || cfg.Iters < 0 || cfg.Batch < 2 || len(cfg.Seeds) == 0 || cfg.Workers < 0 ||
		cfg.Samples < 1 || cfg.EvalEvery < 1 || cfg.SFTEpochs < 0 || cfg.SFTLR <= 0 || cfg.Tests < 1 || cfg.CriticWarmup < 0 {
		return fmt.Errorf("%s: bad config: sft %d (%d epochs, lr %g) prompts %d eval %d iters %d batch %d seeds %d samples %d eval-every %d tests %d critic warm-up %d",
			cfg.Experiment, cfg.SFTSize, cfg.SFTEpochs, cfg.SFTLR, cfg.PromptSize, cfg.EvalSize, cfg.Iters, cfg.Batch, len(cfg.Seeds), cfg.Samples,
			cfg.EvalEvery, cfg.Tests, cfg.CriticWarmup)
	}
	if cfg.GRPOLoss != "" {
		if _, err := rl.ParseAggregation(cfg.GRPOLoss); err != nil {
			return fmt.Errorf("%s: %w", cfg.Experiment, err)
		}
	}
	if s := cfg.GRPOScale; s != "" && s != "group" && s != "batch" && s != "none" {
		return fmt.Errorf("%s: unknown advantage scaling %q (want group, batch or none)", cfg.Experiment, s)
	}
	if cfg.EpsHigh < 0 {
		return fmt.Errorf("%s: upper clip %g must not be negative", cfg.Experiment, cfg.EpsHigh)
	}
	return cfg.checkModel()
}

// RunRL runs an RL experiment: for every seed it trains the SFT start, then every method from it,
// evaluates each on the test prompts, and writes results.json and curves.svg to cfg.OutDir after
// every method (complete: false until the last). It keeps its state in cfg.OutDir's checkpoint
// and continues from it with cfg.Resume (resume.go); cancelled through cfg.Context it saves the
// checkpoint and returns an *Interrupted error.
func RunRL(cfg RLConfig) (*RLResults, error) {
	start := time.Now()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	backend, err := Backend(cfg.Backend)
	if err != nil {
		return nil, err
	}
	if err := CheckOutDir(cfg.OutDir); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Experiment, err)
	}
	st, err := openRLState(cfg)
	if err != nil {
		return nil, err
	}
	data, err := loadRLData(cfg)
	if err != nil {
		return nil, err
	}
	defer data.close()
	labelled, prompts, test := data.labelled, data.prompts, data.test
	res := &RLResults{Provenance: newProvenance(cfg.Experiment, cfg.Quick, cfg.Command), Config: cfg,
		Methods: RLMethodSettings(cfg), Dropped: prompts.Dropped + test.Dropped}
	if data.model != nil {
		res.Model = modelSettings(data.model)
	}
	res.Config.Log = nil
	if !st.fresh {
		res.Provenance, res.Runs = st.Provenance, st.Runs
	}
	elapsed := func() time.Duration { return st.Elapsed + time.Since(start) }
	save := func() error {
		res.Summary = summarize(res.Runs, cfg.Methods)
		res.EGCAOverhead = egcaOverhead(res.Runs)
		res.Seconds = elapsed().Round(100 * time.Millisecond).Seconds()
		if _, err := WriteJSON(cfg.OutDir, "results.json", res); err != nil {
			return err
		}
		return WriteFileAtomic(filepath.Join(cfg.OutDir, "curves.svg"), []byte(RLPlot(res).SVG()), 0o644)
	}
	path := CheckpointPath(cfg.OutDir)
	r := &rlRunner{cfg: cfg, known: RLMethods(cfg), data: data, clock: newCheckpointClock(cfg.CheckpointEvery), path: path}
	r.checkpoint = func(cur *rlRunState) error {
		st.Provenance, st.Elapsed, st.Runs, st.Current = res.Provenance, elapsed(), res.Runs, cur
		start = time.Now()
		return SaveCheckpoint(path, cfg.Experiment, cfg, st)
	}
	// interrupted saves the state between two runs (or the last one saved of the run part way,
	// already in st.Current) and says where.
	interrupted := func() error { return interruption(cfg.Experiment, path, cfg.Log, r.checkpoint(st.Current)) }
	log := cfg.Log
	logf(log, "%s: %d labelled examples, %d RL prompts, %d test prompts (%d dropped: reference always fails), backend %s\n",
		cfg.Experiment, labelled.Len(), prompts.Len(), test.Len(), res.Dropped, backend.Name())
	r.ks = slices.DeleteFunc([]int{1, 5, 10}, func(k int) bool { return k > cfg.Samples })
	for _, seed := range cfg.Seeds {
		if !slices.ContainsFunc(cfg.Methods, func(m string) bool { return !hasRun(res.Runs, m, seed) }) {
			logf(log, "seed %d: every method's run was done before the run was interrupted\n", seed)
			continue
		}
		if stopped(cfg.Context) {
			return nil, interrupted()
		}
		var saved []byte
		if st.SFT != nil && st.SFTSeed == seed {
			saved = st.SFT
		}
		st.SFT = nil // another seed's start is of no more use
		sft, err := startOf(backend, data, cfg, seed, saved, path)
		if errors.Is(err, ErrInterrupted) {
			return nil, interrupted()
		}
		if err != nil {
			return nil, err
		}
		if data.gpt != nil {
			res.Model = gptSettings(cfg, data.gpt, sft.(gptStart).p)
		}
		st.SFTSeed, st.SFT = seed, saved
		if saved == nil { // minutes of training not to lose
			if st.SFT, err = sft.weights(); err != nil {
				return nil, err
			}
			if err := r.checkpoint(st.Current); err != nil {
				return nil, err
			}
		}
		for _, name := range cfg.Methods {
			if hasRun(res.Runs, name, seed) {
				logf(log, "%s seed %d: done before the run was interrupted\n", name, seed)
				continue
			}
			if stopped(cfg.Context) {
				return nil, interrupted()
			}
			var from *rlRunState
			if c := st.Current; c != nil && c.Run.Method == name && c.Run.Seed == seed {
				from = c
			}
			st.Current = nil
			run, err := r.run(sft, name, seed, from)
			if errors.Is(err, ErrInterrupted) { // the run saved its state
				return nil, interruption(cfg.Experiment, path, cfg.Log, nil)
			}
			if err != nil {
				return nil, fmt.Errorf("%s seed %d: %w", name, seed, err)
			}
			logf(log, "%s seed %d: test %s, %s, %.0fs\n", name, seed, run.Test.Greedy, passText(run.Test), run.Seconds)
			res.Runs = append(res.Runs, *run)
			res.Complete = len(res.Runs) == len(cfg.Seeds)*len(cfg.Methods)
			if err := save(); err != nil {
				return nil, err
			}
			if !res.Complete {
				if err := r.checkpoint(nil); err != nil {
					return nil, err
				}
			}
		}
	}
	// Every run may have been done before an interruption: the summary and the files are
	// written once more.
	res.Complete = true
	if err := save(); err != nil {
		return nil, err
	}
	return res, dropCheckpoint(cfg.OutDir, cfg.Experiment)
}

// startOf is the supervised start of seed: from saved (the checkpoint's weights of this seed's
// start, read from path) when it is not nil, else trained (ErrInterrupted when cfg.Context is
// cancelled part way).
func startOf(backend compute.Backend, data *rlData, cfg RLConfig, seed int64, saved []byte, path string) (sftStart, error) {
	if saved != nil {
		logf(cfg.Log, "sft seed %d: the start is restored from %s\n", seed, path)
	}
	if data.gpt != nil {
		var p *gpt.Policy
		var err error
		if saved != nil {
			if p, err = newGPT(backend, cfg, data.gpt, seed); err == nil {
				err = trainer.Unmarshal(p.Store(), saved, path)
			}
		} else {
			p, err = cachedGPTSFT(backend, data.gpt, data.labelled, cfg, seed)
		}
		return gptStart{p}, err
	}
	var gen *seq2seq.Generator
	var err error
	if saved != nil {
		if gen, err = seq2seq.NewGenerator(backend, data.model, cfg.Batch, seed); err == nil {
			err = trainer.Unmarshal(gen.Store, saved, path)
		}
	} else {
		gen, err = trainSFT(backend, data.model, data.sft, cfg, seed)
	}
	return gruStart{gen, data.lexer}, err
}

// trainSFT trains the supervised start of one seed (ErrInterrupted when cfg.Context is
// cancelled part way).
func trainSFT(backend compute.Backend, m *seq2seq.Model, labelled *seq2seq.Encoded, cfg RLConfig, seed int64) (*seq2seq.Generator, error) {
	gen, err := seq2seq.NewGenerator(backend, m, cfg.Batch, seed)
	if err != nil {
		return nil, err
	}
	step, err := gen.CEStep(optimizer.Adam().LearningRate(cfg.SFTLR).Done())
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	bar := sftBar(cfg, seed)
	defer bar.Done()
	for e := range cfg.SFTEpochs {
		if stopped(cfg.Context) {
			return nil, ErrInterrupted
		}
		vals, err := gen.TrainEpoch(step, labelled, rng, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("sft epoch %d: %w", e+1, err)
		}
		sftProgress(bar, cfg, seed, e+1, vals[0])
	}
	return gen, nil
}

// sftBar is the progress bar of seed's supervised start (nil without a log).
func sftBar(cfg RLConfig, seed int64) *progress.Bar {
	if cfg.Log == nil {
		return nil
	}
	return progress.New(cfg.Log, fmt.Sprintf("sft seed %d", seed), cfg.SFTEpochs, "epoch")
}

// sftProgress shows that epoch (1-based) of seed's supervised start ended with loss: on the bar,
// and as a log line every 10 epochs and at the last.
func sftProgress(bar *progress.Bar, cfg RLConfig, seed int64, epoch int, loss float64) {
	bar.Update(epoch, fmt.Sprintf("loss %.4f", loss))
	if epoch%10 == 0 || epoch == cfg.SFTEpochs {
		bar.Printf("sft seed %d epoch %d/%d: loss %.4f\n", seed, epoch, cfg.SFTEpochs, loss)
	}
}

// copyPolicy returns a policy on a fresh store holding the SFT generator's weights.
func copyPolicy(sft *seq2seq.Generator, lexer seq2seq.Lexer, seed int64) (rl.Policy, error) {
	store, err := trainer.NewStore(seed)
	if err != nil {
		return nil, err
	}
	if err := trainer.CopyWeights(store, sft.Store, trainer.WeightsUnder(seq2seq.Scope)); err != nil {
		return nil, err
	}
	return seq2seq.NewPolicy(&seq2seq.Generator{Model: sft.Model, Backend: sft.Backend, Store: store, Batch: sft.Batch}, lexer), nil
}

// rlRunner runs the (method, seed) runs of an RL experiment with what they share: the
// configuration, the methods, the data, the pass@k cut-offs and the checkpoints.
type rlRunner struct {
	cfg   RLConfig
	known map[string]rlMethod
	data  *rlData
	ks    []int
	clock *checkpointClock
	path  string
	// checkpoint saves the experiment's state with the run part way through (nil: none).
	checkpoint func(*rlRunState) error
}

// rlIterationHook, when set (tests), is called after every RL iteration, before the run checks
// its context: a test cancels the context there to interrupt a run at a chosen iteration.
var rlIterationHook func(method string, seed int64, iter int)

// run trains method name from the start sft with seed, continuing from the state from when it is
// not nil, and evaluates it on the test prompts. It saves a checkpoint after an iteration when
// the clock is due, and when the run's context is cancelled (then it returns ErrInterrupted).
func (r *rlRunner) run(sft sftStart, name string, seed int64, from *rlRunState) (*RLRun, error) {
	cfg, test := r.cfg, r.data.test
	pol, err := sft.policy(seed + 1000)
	if err != nil {
		return nil, err
	}
	run := &RLRun{Method: name, Seed: seed}
	if name != "sft" {
		meth := r.known[name]
		ref, err := sft.policy(seed + 2000)
		if err != nil {
			return nil, err
		}
		method, err := meth.build(pol, ref, r.data.prompts, r.data.labelled, seed)
		if err != nil {
			return nil, err
		}
		sampler, err := rl.NewPrompts(r.data.prompts.Len(), cfg.Batch/meth.group, meth.group, uint64(seed))
		if err != nil {
			return nil, err
		}
		var busy time.Duration
		it0 := 0
		if from != nil {
			if err := r.restore(from, pol, method, sampler); err != nil {
				return nil, err
			}
			*run, it0, busy = from.Run, from.Iter, from.Busy
			logf(cfg.Log, "%s seed %d: continuing after iteration %d/%d\n", name, seed, it0, cfg.Iters)
		}
		if run.Phases == nil {
			run.Phases = map[string]float64{}
		}
		if run.Means == nil {
			run.Means = rl.Stats{}
		}
		// snapshot is the run's state after it iterations.
		snapshot := func(it int) (*rlRunState, error) {
			s := &rlRunState{Run: *run, Iter: it, Busy: busy}
			var err1, err2, err3 error
			s.Policy, err1 = trainer.Marshal(pol.Store())
			if m, ok := method.(rl.Stateful); ok {
				s.Method, err2 = m.MarshalState()
			}
			s.Prompts, err3 = sampler.MarshalBinary()
			return s, errors.Join(err1, err2, err3)
		}
		bar := progress.New(cfg.Log, fmt.Sprintf("%s seed %d", name, seed), cfg.Iters, "iter").From(it0)
		defer func() { bar.Done() }() // an interrupted or failed run ends its line too
		for it := it0 + 1; it <= cfg.Iters; it++ {
			t0 := time.Now()
			st, err := method.Iterate(sampler.Next())
			if err != nil {
				return nil, fmt.Errorf("iteration %d: %w", it, err)
			}
			busy += time.Since(t0)
			run.Last = st
			for k, v := range st {
				if name, ok := strings.CutPrefix(k, "sec_"); ok {
					run.Phases[name] += v
				} else {
					run.Means[k] += v / float64(cfg.Iters)
				}
			}
			if it%cfg.EvalEvery == 0 || it == cfg.Iters {
				ev, err := rl.Evaluate(pol, test, 0, 1, nil)
				if err != nil {
					return nil, err
				}
				run.Curve = append(run.Curve, RLPoint{Iter: it, Reward: st["reward"], Pass: st["pass"], TestFunctional: ev.Greedy.Functional})
				bar.Printf("%s seed %d iter %d/%d: sample reward %.3f pass %.3f, test functional %.2f%% (%.2fs/iter)\n",
					name, seed, it, cfg.Iters, st["reward"], st["pass"], 100*ev.Greedy.Functional, busy.Seconds()/float64(it))
			}
			values := fmt.Sprintf("sample reward %.3f pass %.3f", st["reward"], st["pass"])
			if n := len(run.Curve); n > 0 {
				values += fmt.Sprintf(", test functional %.1f%%", 100*run.Curve[n-1].TestFunctional)
			}
			bar.Update(it, values)
			if rlIterationHook != nil {
				rlIterationHook(name, seed, it)
			}
			stop := stopped(cfg.Context)
			if stop || r.clock.due() {
				s, err := snapshot(it)
				if err == nil {
					err = r.checkpoint(s)
				}
				if err != nil {
					return nil, fmt.Errorf("checkpoint after iteration %d: %w", it, err)
				}
			}
			if stop {
				return nil, ErrInterrupted
			}
		}
		bar.Done()
		bar = nil
		if re, ok := method.(*rl.Reinforce); ok && re.Critic != nil {
			if run.Critic, err = rl.EvaluateCritic(re.Critic, pol, test); err != nil {
				return nil, err
			}
			logf(cfg.Log, "%s seed %d: critic on held-out samples: accuracy %.3f (majority class %.3f) %v\n",
				name, seed, run.Critic.Accuracy, run.Critic.Majority, run.Critic.Recall)
		}
		run.Seconds = busy.Seconds()
		if busy > 0 {
			run.SamplesPerSecond = float64(cfg.Iters*cfg.Batch) / busy.Seconds()
		}
	}
	if run.Test, err = rl.Evaluate(pol, test, cfg.Samples, 1, r.ks); err != nil {
		return nil, err
	}
	return run, nil
}

// restore sets a run's policy, method and prompt sampler, just built, to the state from.
func (r *rlRunner) restore(from *rlRunState, pol rl.Policy, method rl.Method, sampler *rl.Prompts) error {
	if err := trainer.Unmarshal(pol.Store(), from.Policy, r.path); err != nil {
		return err
	}
	m, ok := method.(rl.Stateful)
	if ok != (from.Method != nil) {
		return fmt.Errorf("checkpoint %s: the state of method %s does not match it (state saved: %v)", r.path, method.Name(), from.Method != nil)
	}
	if ok {
		if err := m.UnmarshalState(from.Method); err != nil {
			return fmt.Errorf("checkpoint %s: %w", r.path, err)
		}
	}
	if err := sampler.UnmarshalBinary(from.Prompts); err != nil {
		return fmt.Errorf("checkpoint %s: %w", r.path, err)
	}
	return nil
}

// egcaOverhead is mean over seeds of egca's seconds per iteration / grpo's - 1 (nil without a
// seed that ran both).
func egcaOverhead(runs []RLRun) *float64 {
	secs := map[string]map[int64]float64{}
	for _, r := range runs {
		if secs[r.Method] == nil {
			secs[r.Method] = map[int64]float64{}
		}
		secs[r.Method][r.Seed] = r.Seconds
	}
	var over []float64
	for seed, g := range secs["grpo"] {
		if e, ok := secs["egca"][seed]; ok && g > 0 {
			over = append(over, e/g-1)
		}
	}
	if len(over) == 0 {
		return nil
	}
	m := mean(over)
	return &m
}

// metricsOf flattens a run's test evaluation into named numbers.
func metricsOf(ev *rl.Evaluation) map[string]float64 {
	out := map[string]float64{"exact": ev.Greedy.Exact, "functional": ev.Greedy.Functional, "well_formed": ev.Greedy.WellFormed}
	for k, v := range ev.PassAtK {
		out[k] = v
	}
	for k, v := range ev.Outcomes {
		out["samples_"+k] = v
	}
	return out
}

func summarize(runs []RLRun, methods []string) []RLSummary {
	var out []RLSummary
	for _, name := range methods {
		var vals []map[string]float64
		for _, r := range runs {
			if r.Method == name {
				vals = append(vals, metricsOf(r.Test))
			}
		}
		if len(vals) == 0 {
			continue
		}
		s := RLSummary{Method: name, Mean: map[string]float64{}, Std: map[string]float64{}, Seeds: len(vals)}
		for k := range vals[0] {
			var sum, sq float64
			for _, v := range vals {
				sum += v[k]
			}
			mu := sum / float64(len(vals))
			for _, v := range vals {
				sq += (v[k] - mu) * (v[k] - mu)
			}
			s.Mean[k] = mu
			if len(vals) > 1 {
				s.Std[k] = math.Sqrt(sq / float64(len(vals)-1))
			}
		}
		out = append(out, s)
	}
	return out
}

func passText(ev *rl.Evaluation) string {
	var parts []string
	for _, k := range []string{"pass@1", "pass@5", "pass@10"} {
		if v, ok := ev.PassAtK[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.3f", k, v))
		}
	}
	return strings.Join(parts, " ")
}

// RLTable renders the summary: mean ± standard deviation over seeds of the test metrics.
func RLTable(res *RLResults) (header []string, rows [][]string) {
	cols := []string{"exact", "functional", "pass@1", "pass@5", "pass@10", "samples_PassedTest", "samples_FailedTest", "samples_RuntimeError", "samples_CompileError"}
	header = append([]string{"method"}, "test exact", "test functional", "pass@1", "pass@5", "pass@10",
		"samples passed", "failed test", "runtime error", "compile error", "samples/s")
	for _, s := range res.Summary {
		row := []string{s.Method}
		for _, c := range cols {
			if _, ok := s.Mean[c]; !ok {
				row = append(row, "-")
				continue
			}
			row = append(row, fmt.Sprintf("%.1f ± %.1f", 100*s.Mean[c], 100*s.Std[c]))
		}
		var sps []float64
		for _, r := range res.Runs {
			if r.Method == s.Method && r.SamplesPerSecond > 0 {
				sps = append(sps, r.SamplesPerSecond)
			}
		}
		if len(sps) > 0 {
			row = append(row, fmt.Sprintf("%.0f", mean(sps)))
		} else {
			row = append(row, "-")
		}
		rows = append(rows, row)
	}
	return header, rows
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(max(len(xs), 1))
}

// RLPlot draws the greedy test functional accuracy per iteration of every method (mean over seeds).
func RLPlot(res *RLResults) *plot.Curve {
	var names []string
	for _, s := range res.Summary {
		if s.Method != "sft" {
			names = append(names, s.Method)
		}
	}
	c := plot.NewCurve(res.Experiment+": test functional accuracy (greedy, mean over seeds)", "iteration", names...)
	c.Static = true
	iters := map[int]bool{}
	for _, r := range res.Runs {
		for _, p := range r.Curve {
			iters[p.Iter] = true
		}
	}
	xs := make([]int, 0, len(iters))
	for it := range iters {
		xs = append(xs, it)
	}
	slices.Sort(xs)
	for _, it := range xs {
		ys := make([]float64, len(names))
		for i, name := range names {
			var v []float64
			for _, r := range res.Runs {
				if r.Method != name {
					continue
				}
				for _, p := range r.Curve {
					if p.Iter == it {
						v = append(v, p.TestFunctional)
					}
				}
			}
			ys[i] = math.NaN()
			if len(v) > 0 {
				ys[i] = mean(v)
			}
		}
		c.Add(float64(it), ys...)
	}
	return c
}

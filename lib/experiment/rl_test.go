package experiment

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/execfeed/execfeed/sandbox"
	"github.com/execfeed/execfeed/sandbox/serve"
)

// TestRunRLQuick runs every RL experiment in its quick configuration and checks that each method
// reports test numbers, that the files are written, and that RL methods really ran iterations.
func TestRunRLQuick(t *testing.T) {
	for _, name := range RLExperiments {
		cfg, err := QuickRLConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		cfg.OutDir = t.TempDir()
		res, err := RunRL(cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res.Summary) != len(cfg.Methods) {
			t.Errorf("%s: %d summaries for methods %v", name, len(res.Summary), cfg.Methods)
		}
		for _, r := range res.Runs {
			if r.Test == nil || r.Test.Greedy.N == 0 || len(r.Test.PassAtK) == 0 {
				t.Errorf("%s/%s: no test evaluation: %+v", name, r.Method, r.Test)
			}
			if r.Method != "sft" && (len(r.Curve) == 0 || r.SamplesPerSecond <= 0 || r.Phases["sample"] <= 0) {
				t.Errorf("%s/%s: no training recorded (curve %d points, %.0f samples/s, phases %v)",
					name, r.Method, len(r.Curve), r.SamplesPerSecond, r.Phases)
			}
		}
		for _, f := range []string{"results.json", "curves.svg"} {
			if _, err := os.Stat(filepath.Join(cfg.OutDir, f)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

func TestRunRLRejectsBadConfig(t *testing.T) {
	if _, err := DefaultRLConfig("rpn-nope"); err == nil {
		t.Errorf("unknown experiment accepted")
	}
	cfg, _ := QuickRLConfig("rpn-egca")
	cfg.Methods, cfg.OutDir = []string{"grpo", "sgd-magic"}, t.TempDir()
	if _, err := RunRL(cfg); err == nil || !strings.Contains(err.Error(), "sgd-magic") {
		t.Errorf("unknown method: err = %v, want one naming it", err)
	}
	cfg, _ = QuickRLConfig("rpn-egca")
	cfg.SFTSize, cfg.PromptSize, cfg.OutDir = 8000, 2000, t.TempDir()
	if _, err := RunRL(cfg); err == nil {
		t.Errorf("more examples than the data set holds accepted")
	}
	for _, bad := range []func(*RLConfig){
		func(c *RLConfig) { c.Seeds = []int64{1, 1} },
		func(c *RLConfig) { c.Methods = []string{"sft", "grpo", "sft"} },
		func(c *RLConfig) { c.Methods = []string{"reinforce"} }, // not one of py-grpo's methods
		func(c *RLConfig) { c.Methods = nil },
		func(c *RLConfig) { c.OutDir = "/proc/no/such/dir" },
		func(c *RLConfig) { c.Backend = "xla:/abs/pjrt.so" },
		func(c *RLConfig) { c.GRPOLoss = "grpo-plus" },
		func(c *RLConfig) { c.GRPOScale = "sometimes" },
		func(c *RLConfig) { c.EpsHigh = -1 },
		func(c *RLConfig) { c.Workers = -2 },
	} {
		cfg, _ = QuickRLConfig("py-grpo")
		cfg.OutDir = t.TempDir()
		bad(&cfg)
		if _, err := RunRL(cfg); err == nil {
			t.Errorf("bad config accepted: %+v", cfg)
		}
	}
}

// TestRunRLRemoteExecution runs the quick Python experiment with its programs executed by an
// execution server on loopback (kernel serve's handler) instead of local workers, and checks
// that the server ran them.
func TestRunRLRemoteExecution(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quick py-grpo experiment")
	}
	pool, err := sandbox.NewPool(sandbox.PoolConfig{Workers: 2})
	if err != nil {
		t.Skipf("no Python sandbox: %v", err)
	}
	defer pool.Close()
	srv := httptest.NewServer(serve.New(serve.Config{Workers: 2}, pool).Handler())
	defer srv.Close()
	cfg, _ := QuickRLConfig("py-grpo")
	cfg.Methods, cfg.Iters = []string{"sft", "grpo"}, 2
	cfg.OutDir, cfg.Exec = t.TempDir(), srv.URL
	res, err := RunRL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2 || pool.Stats().Runs < int64(cfg.PromptSize) {
		t.Errorf("%d runs; the server's pool ran %d programs, want at least the %d references", len(res.Runs), pool.Stats().Runs, cfg.PromptSize)
	}
}

// TestResultsRecordSettings: configurations are recorded with snake_case keys and enums by name,
// and a results file loads back through the helpers notebooks use.
func TestResultsRecordSettings(t *testing.T) {
	for name, want := range map[string]string{"SFTSize": "sft_size", "KLBeta": "kl_beta", "EGCA": "egca", "CEEvery": "ce_every",
		"LR": "lr", "ClipEps": "clip_eps", "TgtLen": "tgt_len"} {
		if got := SnakeCase(name); got != want {
			t.Errorf("SnakeCase(%s) = %s, want %s", name, got, want)
		}
	}
	cfg, _ := QuickRLConfig("rpn-eta")
	s := RLMethodSettings(cfg)
	if s["eta-dpo"]["beta"] != 0.1 || s["ppo"]["kl_beta"] != 0.05 || s["eta-dpo"]["group"] != 8 || s["ppo"]["temperature"] != 1.0 {
		t.Errorf("method settings %v", s)
	}
	if _, ok := s["ppo"]["reward"]; !ok {
		t.Errorf("ppo's reward is not named: %v", s["ppo"])
	}
	if !cfg.Quick || !strings.HasSuffix(cfg.OutDir, "rpn-eta-quick") {
		t.Errorf("quick preset: quick %v, out %s", cfg.Quick, cfg.OutDir)
	}
	dir := t.TempDir()
	res := &RLResults{Provenance: newProvenance("rpn-eta", true, []string{"kernel", "run"}), Config: cfg}
	if _, err := WriteJSON(dir, "results.json", res); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(ResultsPath(dir))
	for _, want := range []string{`"dialect": "rpn-ext"`, `"sft_size": 200`, `"quick": true`, `"go": "go`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("results.json lacks %s", want)
		}
	}
	back, err := LoadRLResults(ResultsPath(dir))
	if err != nil || back.Config.Dialect != cfg.Dialect || back.Config.SFTSize != 200 {
		t.Errorf("loaded %+v, %v", back, err)
	}
	if _, err := LoadDEFResults(ResultsPath(dir)); err == nil {
		t.Errorf("an RL results file loaded as rpn-def's")
	}
	if _, err := LoadRLResults(filepath.Join(dir, "none.json")); err == nil || !strings.Contains(err.Error(), "run the experiment first") {
		t.Errorf("missing file: %v", err)
	}
}

// interruptAt runs cfg in a context that the run cancels itself after iteration iter of method
// (rlIterationHook), and checks that it stops with an *Interrupted error naming its checkpoint,
// and that the checkpoint is there.
func interruptAt(t *testing.T, cfg RLConfig, method string, iter int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rlIterationHook = func(m string, _ int64, it int) {
		if m == method && it == iter {
			cancel()
		}
	}
	defer func() { rlIterationHook = nil }()
	cfg.Context = ctx
	_, err := RunRL(cfg)
	var in *Interrupted
	if !errors.As(err, &in) || in.Checkpoint != CheckpointPath(cfg.OutDir) {
		t.Fatalf("%s interrupted after %s iteration %d: err = %v, want an *Interrupted naming %s", cfg.Experiment, method, iter, err, CheckpointPath(cfg.OutDir))
	}
	if _, err := os.Stat(in.Checkpoint); err != nil {
		t.Fatalf("no checkpoint after the interruption: %v", err)
	}
}

// TestRLInterruptedResumes interrupts quick RL runs part way through a method (twice for the
// critic: during its warm-up and after it) and at a method's last iteration, resumes them from
// their checkpoints, and checks that every number equals the uninterrupted run's (on the CPU
// backend, bit for bit): REINFORCE with a critic (rpn-coderl: the critic's weights and optimizer,
// the warm-up counter) and PPO then ETA-DPO (rpn-eta: the value head, the frozen reference).
func TestRLInterruptedResumes(t *testing.T) {
	for _, tc := range []struct {
		experiment string
		methods    []string
		cuts       []struct {
			method string
			iter   int
		}
	}{
		{"rpn-coderl", []string{"sft", "reinforce+critic"}, []struct {
			method string
			iter   int
		}{{"reinforce+critic", 1}, {"reinforce+critic", 3}}},
		{"rpn-eta", []string{"ppo", "eta-dpo"}, []struct {
			method string
			iter   int
		}{{"ppo", 4}, {"eta-dpo", 2}}},
	} {
		cfg, _ := QuickRLConfig(tc.experiment)
		cfg.Methods, cfg.OutDir = tc.methods, t.TempDir()
		full, err := RunRL(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg.OutDir = t.TempDir()
		var log strings.Builder
		cfg.Log = &log
		for i, cut := range tc.cuts {
			cfg.Resume = i > 0
			interruptAt(t, cfg, cut.method, cut.iter)
		}
		if want := fmt.Sprintf("%s seed 1: continuing after iteration %d/4", tc.cuts[0].method, tc.cuts[0].iter); !strings.Contains(log.String(), want) {
			t.Errorf("%s: the second run did not continue the first one's (no %q):\n%s", tc.experiment, want, log.String())
		}
		cfg.Resume = false
		if _, err := RunRL(cfg); err == nil || !strings.Contains(err.Error(), "add -resume") {
			t.Errorf("%s: a new run over an unfinished one's checkpoint: %v", tc.experiment, err)
		}
		cfg.Resume = true
		res, err := RunRL(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if d := DiffResults(full, res); len(d) > 0 {
			t.Errorf("%s: the resumed run differs from the uninterrupted one:\n%s", tc.experiment, strings.Join(d, "\n"))
		}
		back, err := LoadRLResults(ResultsPath(cfg.OutDir))
		if err != nil || !back.Complete || len(DiffResults(full, back)) > 0 {
			t.Errorf("%s: results.json after resuming: %v, complete %v, %v", tc.experiment, err, back.Complete, DiffResults(full, back))
		}
		if _, err := os.Stat(CheckpointPath(cfg.OutDir)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the finished run left its checkpoint: %v", tc.experiment, err)
		}
	}
}

// TestRLResumeRefusesOtherSettings: a checkpoint resumed with other settings is an error naming
// them; -resume without a checkpoint starts afresh, saying so.
func TestRLResumeRefusesOtherSettings(t *testing.T) {
	cfg, _ := QuickRLConfig("rpn-egca")
	cfg.Methods, cfg.OutDir = []string{"grpo"}, t.TempDir()
	interruptAt(t, cfg, "grpo", 1)
	other := cfg
	other.Resume, other.Iters, other.Seeds = true, 6, []int64{1, 2}
	_, err := RunRL(other)
	if err == nil || !strings.Contains(err.Error(), "iters: 4 != 6") || !strings.Contains(err.Error(), "seeds") {
		t.Errorf("resumed with other iterations and seeds: %v", err)
	}
	if err := LoadCheckpoint(CheckpointPath(cfg.OutDir), "rpn-egca", cfg, &rlState{}); err != nil {
		t.Errorf("the refused resume did not leave the checkpoint as it was: %v", err)
	}
	var log strings.Builder
	cfg.OutDir, cfg.Resume, cfg.Log, cfg.Iters = t.TempDir(), true, &log, 1
	if _, err := RunRL(cfg); err != nil || !strings.Contains(log.String(), "nothing to resume") {
		t.Errorf("-resume without a checkpoint: %v\n%s", err, log.String())
	}
}

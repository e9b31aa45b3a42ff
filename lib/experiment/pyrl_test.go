package experiment

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/bpe"
	"github.com/execfeed/execfeed/lib/gpt"
	"github.com/execfeed/execfeed/lib/gpt/reftest"
	"github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/sandbox"
)

// benchProblems is a 12-problem HumanEval file the sandbox's tests ship.
var benchProblems = filepath.Join("..", "..", "sandbox", "testdata", "bench_humaneval.jsonl")

// tinyCheckpoint writes a tiny random GPT-2 in Hugging Face's layout (config.json,
// model.safetensors, vocab.json, merges.txt) with a BPE trained on the problems' texts.
func tinyCheckpoint(t *testing.T, context int) string {
	t.Helper()
	probs, err := sandbox.LoadProblems(benchProblems, sandbox.HumanEval)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, p := range probs {
		texts = append(texts, p.Prompt, p.Reference)
	}
	tok, err := bpe.Train(texts, 1024)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := reftest.NewTiny(2, 2, 16, context, tok.Size(), 5).Write(dir); err != nil {
		t.Fatal(err)
	}
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRLCheckpointProblems runs seed 001's literal set-up end to end on a tiny random checkpoint:
// -model DIR, -problems a HumanEval file, a 10-problem subset, SFT then PPO and ETA-DPO, pass@k.
func TestRLCheckpointProblems(t *testing.T) {
	dir := tinyCheckpoint(t, 256)
	cfg, err := QuickRLConfig("py-eta")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ModelDir, cfg.Problems, cfg.Format, cfg.Subset, cfg.Batch = dir, benchProblems, "humaneval", 10, 8
	cfg.Methods, cfg.Iters, cfg.SFTEpochs, cfg.SFTLR, cfg.OutDir = []string{"sft", "ppo", "eta-dpo"}, 1, 1, 1e-3, t.TempDir()
	res, err := RunRL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Model["checkpoint"] != dir || res.Model["width"] != 16 || res.Model["layers"] != 2 || res.Model["sep"] != "" {
		t.Errorf("the checkpoint's model was not used: %v", res.Model)
	}
	if len(res.Runs) != 3 {
		t.Fatalf("%d runs", len(res.Runs))
	}
	for _, r := range res.Runs {
		if r.Test.Greedy.N != 10 || r.Test.PassAtK["pass@1"] < 0 || len(r.Test.PassAtK) == 0 {
			t.Errorf("%s: evaluation %+v", r.Method, r.Test)
		}
		if r.Method != "sft" && r.Phases["sample"] <= 0 {
			t.Errorf("%s: no RL iteration ran: %v", r.Method, r.Phases)
		}
	}
	// A directory that is not a checkpoint, and a subset larger than the file, are errors.
	bad := cfg
	bad.ModelDir, bad.OutDir = t.TempDir(), t.TempDir()
	if _, err := RunRL(bad); err == nil {
		t.Errorf("an empty directory was accepted as a checkpoint")
	}
	bad = cfg
	bad.Subset, bad.OutDir = 13, t.TempDir()
	if _, err := RunRL(bad); err == nil || !strings.Contains(err.Error(), "12 problems") {
		t.Errorf("subset of 13 of 12 problems: %v", err)
	}
}

// TestGPTStartShared: every method starts from a copy of the same SFT weights, and training one
// copy leaves the start and the other copies unchanged.
func TestGPTStartShared(t *testing.T) {
	cfg, _ := QuickRLConfig("py-egca")
	cfg.OutDir, cfg.SFTEpochs = t.TempDir(), 1
	backend, data := quickData(t, cfg)
	p, err := trainGPTSFT(backend, data.gpt, data.labelled, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	start := gptStart{p}
	a, err := start.policy(1001)
	if err != nil {
		t.Fatal(err)
	}
	b, err := start.policy(1002)
	if err != nil {
		t.Fatal(err)
	}
	bp := b.(*gpt.Policy)
	step, err := bp.SFTStep(optimizer.Adam().LearningRate(1e-2).Done())
	if err != nil {
		t.Fatal(err)
	}
	in, err := bp.SFTInputs([]string{data.test.Prompts[0].Text}, []string{data.test.Prompts[0].Reference})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := step.Run(in[0], in[1], in[2], in[3]); err != nil {
		t.Fatal(err)
	}
	weights := func(pol rl.Policy) []byte {
		dir := t.TempDir()
		if err := pol.(*gpt.Policy).Save(dir); err != nil {
			t.Fatal(err)
		}
		w, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	w0, wa, wb := weights(p), weights(a), weights(b)
	if !bytes.Equal(w0, wa) {
		t.Errorf("a copy of the start holds other weights")
	}
	if bytes.Equal(w0, wb) {
		t.Errorf("a trained copy holds the start's weights: the step did nothing, or it trained the start")
	}
}

// TestRLModelChecks: a bad generator or problems setting is an error before anything trains.
func TestRLModelChecks(t *testing.T) {
	for name, bad := range map[string]func(*RLConfig){
		"unknown model":        func(c *RLConfig) { c.Model = "lstm" },
		"gpt on rpn":           func(c *RLConfig) { c.Experiment, c.Methods = "rpn-egca", []string{"sft"} },
		"odd heads":            func(c *RLConfig) { c.GPT = &GPTConfig{Layers: 1, Heads: 3, Width: 64, BPEVocab: 300} },
		"tiny bpe":             func(c *RLConfig) { c.GPT = &GPTConfig{Layers: 1, Heads: 2, Width: 64, BPEVocab: 100} },
		"missing checkpoint":   func(c *RLConfig) { c.ModelDir = "/no/such/checkpoint" },
		"gru with checkpoint":  func(c *RLConfig) { c.Model, c.GPT, c.ModelDir = "", nil, t.TempDir() },
		"subset without file":  func(c *RLConfig) { c.Subset = 10 },
		"problems, no subset":  func(c *RLConfig) { c.Problems = benchProblems },
		"problems, bad format": func(c *RLConfig) { c.Problems, c.Subset, c.Format = benchProblems, 10, "apps" },
	} {
		cfg, _ := QuickRLConfig("py-egca")
		cfg.OutDir = t.TempDir()
		bad(&cfg)
		if err := cfg.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cfg, _ := QuickRLConfig("py-egca")
	if err := cfg.check(); err != nil || cfg.Model != ModelGPT {
		t.Errorf("the quick preset: model %q, %v", cfg.Model, err)
	}
}

// TestSFTCache: a second run with the same settings loads the cached start (the same weights,
// no training); another seed trains its own.
func TestSFTCache(t *testing.T) {
	cfg, _ := QuickRLConfig("py-egca")
	cfg.OutDir, cfg.SFTEpochs, cfg.SFTCache = t.TempDir(), 1, t.TempDir()
	backend, data := quickData(t, cfg)
	var log strings.Builder
	cfg.Log = &log
	weights := func(seed int64) []byte {
		p, err := cachedGPTSFT(backend, data.gpt, data.labelled, cfg, seed)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := p.Save(dir); err != nil {
			t.Fatal(err)
		}
		w, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
		return w
	}
	first := weights(1)
	if strings.Contains(log.String(), "loaded") {
		t.Fatalf("an empty cache loaded a start: %s", log.String())
	}
	log.Reset()
	second := weights(1)
	if !strings.Contains(log.String(), "loaded") || strings.Contains(log.String(), "epoch") {
		t.Errorf("the second run did not load the cached start: %s", log.String())
	}
	if !bytes.Equal(first, second) {
		t.Errorf("the cached start holds other weights than the trained one")
	}
	log.Reset()
	if other := weights(2); bytes.Equal(first, other) || strings.Contains(log.String(), "loaded") {
		t.Errorf("seed 2 got seed 1's start: %s", log.String())
	}
}

// TestRLResume: a transformer run interrupted part way through a method resumes from its
// checkpoint - the SFT start restored, not retrained - and gives the uninterrupted run's numbers;
// another configuration is refused, naming the setting.
func TestRLResume(t *testing.T) {
	cfg, _ := QuickRLConfig("py-egca")
	cfg.Methods, cfg.OutDir = []string{"sft", "grpo"}, t.TempDir()
	full, err := RunRL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.OutDir = t.TempDir()
	interruptAt(t, cfg, "grpo", 1)
	other := cfg
	other.Resume, other.Iters = true, 3
	if _, err := RunRL(other); err == nil || !strings.Contains(err.Error(), "iters: 2 != 3") {
		t.Errorf("resuming with other settings: %v", err)
	}
	var log bytes.Buffer
	cfg.Resume, cfg.Log = true, &log
	res, err := RunRL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "start is restored") || strings.Contains(log.String(), "epoch") {
		t.Errorf("the resumed run trained its start again:\n%s", log.String())
	}
	if d := DiffResults(full, res); len(d) > 0 || !res.Complete {
		t.Errorf("the resumed run differs from the uninterrupted one (complete %v):\n%s", res.Complete, strings.Join(d, "\n"))
	}
	back, err := LoadRLResults(ResultsPath(cfg.OutDir))
	if err != nil || len(back.Runs) != 2 || len(back.Summary) != 2 {
		t.Errorf("results.json after resuming: %v", err)
	}
}

// quickData is the default backend and the data of cfg, closed when the test ends.
func quickData(t *testing.T, cfg RLConfig) (compute.Backend, *rlData) {
	t.Helper()
	backend, err := Backend("")
	if err != nil {
		t.Fatal(err)
	}
	data, err := loadRLData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(data.close)
	return backend, data
}

package experiment

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/execfeed/execfeed/lib/bpe"
	"github.com/execfeed/execfeed/lib/gpt"
	"github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/lib/trainer"
)

// The RL harness trains one of two generators: the GRU encoder-decoder (lib/seq2seq, the RPN
// experiments and py-grpo) or the GPT-2 transformer (lib/gpt; the py-coderl, py-eta and py-egca
// experiments), from scratch with a byte-level BPE trained on the task's training texts, or
// loaded from a Hugging Face checkpoint directory (RLConfig.ModelDir). Either way the supervised
// start is trained once per seed and every method starts from a copy of its weights.

// Model names of RLConfig.Model.
const (
	ModelGRU = "gru"
	ModelGPT = "gpt"
)

// GPTConfig is the transformer of an RL experiment.
type GPTConfig struct {
	// Layers, Heads, Width size a from-scratch model (ignored with RLConfig.ModelDir, whose
	// config.json decides).
	Layers int `json:"layers"`
	Heads  int `json:"heads"`
	Width  int `json:"width"`
	// BPEVocab is the size of the byte-level BPE trained on the training descriptions and
	// programs (from scratch only; a checkpoint brings its own tokenizer).
	BPEVocab int `json:"bpe_vocab"`
	// PromptLen and MaxTokens are the policy's prompt and program lengths in tokens; 0 fits them
	// to the longest prompt and reference program of the data (rounded up to 8).
	PromptLen int `json:"prompt_len,omitempty"`
	MaxTokens int `json:"max_tokens,omitempty"`
}

// DefaultGPTConfig is the from-scratch transformer of the Python experiments: 2 layers, 4 heads,
// width 128, a 384-entry BPE.
func DefaultGPTConfig() GPTConfig { return GPTConfig{Layers: 2, Heads: 4, Width: 128, BPEVocab: 384} }

// sftStart is the supervised start of one seed: every method gets a copy of its weights.
type sftStart interface {
	// policy is a policy on a fresh store (seeded with seed) holding the start's weights.
	policy(seed int64) (rl.Policy, error)
	// weights are the start's weights (trainer.Marshal; no optimizer state), which a checkpoint
	// keeps so that a resumed run does not train the start again.
	weights() ([]byte, error)
}

// weightsUnder encodes the variables of store under scope that trainer.WeightsUnder keeps.
func weightsUnder(store *model.Store, scope string) ([]byte, error) {
	w := model.NewStore()
	if err := trainer.CopyWeights(w, store, trainer.WeightsUnder(scope)); err != nil {
		return nil, err
	}
	return trainer.Marshal(w)
}

// gruStart is the GRU generator's start.
type gruStart struct {
	gen   *seq2seq.Generator
	lexer seq2seq.Lexer
}

func (s gruStart) policy(seed int64) (rl.Policy, error) { return copyPolicy(s.gen, s.lexer, seed) }

func (s gruStart) weights() ([]byte, error) { return weightsUnder(s.gen.Store, seq2seq.Scope) }

// gptStart is the transformer's start.
type gptStart struct{ p *gpt.Policy }

func (s gptStart) policy(seed int64) (rl.Policy, error) { return copyGPT(s.p, seed) }

func (s gptStart) weights() ([]byte, error) { return weightsUnder(s.p.Store(), gpt.Scope) }

// copyGPT returns a policy on a fresh store holding p's weights (the scope "/gpt").
func copyGPT(p *gpt.Policy, seed int64) (*gpt.Policy, error) {
	store, err := trainer.NewStore(seed)
	if err != nil {
		return nil, err
	}
	if err := trainer.CopyWeights(store, p.Store(), trainer.WeightsUnder(gpt.Scope)); err != nil {
		return nil, err
	}
	return gpt.NewPolicy(p.Backend(), store, p.Model, p.Tok, p.Cfg)
}

// gptData is what the transformer needs of the data: its tokenizer and the policy's shapes.
type gptData struct {
	tok *bpe.Tokenizer
	pc  gpt.PolicyConfig
	cfg gpt.Config // the from-scratch model (Vocab set by gpt.Scratch)
}

// prepareGPT chooses the tokenizer (a BPE trained on texts, or the checkpoint's) and fits the
// policy's lengths to every prompt and reference program of the tasks.
func prepareGPT(cfg RLConfig, texts []string, tasks ...*rl.Task) (*gptData, error) {
	gc := cfg.gptConfig()
	d := &gptData{cfg: gpt.Config{Layers: gc.Layers, Heads: gc.Heads, Width: gc.Width, Epsilon: 1e-5}}
	var err error
	sep := "\n"
	if cfg.ModelDir != "" {
		if d.tok, err = bpe.Load(cfg.ModelDir); err != nil {
			return nil, fmt.Errorf("%s: -model %s: %w", cfg.Experiment, cfg.ModelDir, err)
		}
	} else if d.tok, err = bpe.Train(texts, gc.BPEVocab); err != nil {
		return nil, fmt.Errorf("%s: training the BPE: %w", cfg.Experiment, err)
	}
	// A task whose prompts are a prefix of the program (HumanEval) continues it: no separator.
	for _, t := range tasks {
		for _, p := range t.Prompts {
			if p.Prefix != "" {
				sep = ""
			}
		}
	}
	promptLen, maxTokens := 0, 0
	for _, t := range tasks {
		for _, p := range t.Prompts {
			promptLen = max(promptLen, 1+len(d.tok.Encode(p.Text+sep)))
			maxTokens = max(maxTokens, len(d.tok.Encode(p.Reference))+1)
		}
	}
	round := func(n int) int { return (n + 7) / 8 * 8 }
	d.pc = gpt.PolicyConfig{Batch: cfg.Batch, PromptLen: round(promptLen), MaxTokens: round(maxTokens), Sep: sep}
	if gc.PromptLen > 0 {
		d.pc.PromptLen = gc.PromptLen
	}
	if gc.MaxTokens > 0 {
		d.pc.MaxTokens = gc.MaxTokens
	}
	if sep == "" {
		// A completion model stops at the next top-level definition.
		d.pc.Stop = []string{"\ndef ", "\nclass ", "\nif __name__", "\nprint("}
	}
	d.cfg.Context = d.pc.PromptLen + d.pc.MaxTokens
	return d, nil
}

// gptConfig is cfg.GPT or the default.
func (cfg RLConfig) gptConfig() GPTConfig {
	if cfg.GPT != nil {
		return *cfg.GPT
	}
	return DefaultGPTConfig()
}

// model is the generator cfg names ("" is the GRU).
func (cfg RLConfig) model() string {
	if cfg.Model == "" {
		return ModelGRU
	}
	return cfg.Model
}

// gptSettings is what the results record of the transformer.
func gptSettings(cfg RLConfig, d *gptData, p *gpt.Policy) map[string]any {
	s := Settings(p.Model.Cfg)
	s["model"], s["prompt_len"], s["max_tokens"], s["sep"], s["tokenizer_vocab"] = ModelGPT, d.pc.PromptLen, d.pc.MaxTokens, d.pc.Sep, d.tok.Size()
	if cfg.ModelDir != "" {
		s["checkpoint"] = cfg.ModelDir
	} else {
		s["tokenizer"] = fmt.Sprintf("byte-level BPE trained on the training texts (%d entries)", d.tok.Size())
	}
	return s
}

// newGPT is the transformer of one seed before SFT: fresh weights from seed, or the checkpoint's.
func newGPT(backend compute.Backend, cfg RLConfig, d *gptData, seed int64) (*gpt.Policy, error) {
	if cfg.ModelDir != "" {
		return gpt.Load(backend, cfg.ModelDir, seed, d.pc)
	}
	return gpt.Scratch(backend, d.cfg, d.tok, seed, d.pc)
}

// trainGPTSFT trains the transformer's supervised start of one seed: SFTEpochs epochs of
// teacher-forced cross-entropy on the labelled task's (prompt, reference) pairs, shuffled
// (ErrInterrupted when cfg.Context is cancelled part way).
func trainGPTSFT(backend compute.Backend, d *gptData, labelled *rl.Task, cfg RLConfig, seed int64) (*gpt.Policy, error) {
	p, err := newGPT(backend, cfg, d, seed)
	if err != nil {
		return nil, err
	}
	step, err := p.SFTStep(optimizer.Adam().LearningRate(cfg.SFTLR).Done())
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	order := make([]int, labelled.Len())
	for i := range order {
		order[i] = i
	}
	bar := sftBar(cfg, seed)
	defer bar.Done()
	for e := range cfg.SFTEpochs {
		if stopped(cfg.Context) {
			return nil, ErrInterrupted
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var loss float64
		var n int
		for b := range slices.Chunk(order, p.BatchSize()) {
			prompts, programs := make([]string, len(b)), make([]string, len(b))
			for i, k := range b {
				prompts[i], programs[i] = labelled.Prompts[k].Text, labelled.Prompts[k].Reference
			}
			in, err := p.SFTInputs(prompts, programs)
			if err != nil {
				return nil, fmt.Errorf("sft: %w", err)
			}
			vals, err := step.Run(in[0], in[1], in[2], in[3])
			if err != nil {
				return nil, fmt.Errorf("sft epoch %d: %w", e+1, err)
			}
			loss += vals[0]
			n++
		}
		sftProgress(bar, cfg, seed, e+1, loss/float64(max(n, 1)))
	}
	return p, nil
}

// cachedGPTSFT is trainGPTSFT through cfg.SFTCache: the start is loaded from the cache when a run
// with the same settings saved it, and saved there after training otherwise.
func cachedGPTSFT(backend compute.Backend, d *gptData, labelled *rl.Task, cfg RLConfig, seed int64) (*gpt.Policy, error) {
	if cfg.SFTCache == "" {
		return trainGPTSFT(backend, d, labelled, cfg, seed)
	}
	dir := filepath.Join(cfg.SFTCache, sftKey(cfg, d, seed))
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		p, err := gpt.Load(backend, dir, seed, d.pc)
		if err != nil {
			return nil, fmt.Errorf("sft cache %s: %w", dir, err)
		}
		logf(cfg.Log, "sft seed %d: loaded the start from %s\n", seed, dir)
		return p, nil
	}
	p, err := trainGPTSFT(backend, d, labelled, cfg, seed)
	if err != nil {
		return nil, err
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := p.Save(tmp); err != nil {
		return nil, fmt.Errorf("sft cache: %w", err)
	}
	return p, os.Rename(tmp, dir)
}

// sftKey names a cached start by a hash of everything that decides its weights.
func sftKey(cfg RLConfig, d *gptData, seed int64) string {
	b, _ := json.Marshal(map[string]any{"data_seed": cfg.DataSeed, "sft_size": cfg.SFTSize, "epochs": cfg.SFTEpochs, "lr": cfg.SFTLR,
		"batch": cfg.Batch, "model": d.cfg, "pc": d.pc, "tokenizer": d.tok.Size(), "model_dir": cfg.ModelDir, "problems": cfg.Problems,
		"format": cfg.Format, "subset": cfg.Subset, "seed": seed, "python": isPython(cfg.Experiment)})
	return fmt.Sprintf("sft-seed%d-%x", seed, sha256.Sum256(b))[:len("sft-seed")+len(fmt.Sprint(seed))+1+16]
}

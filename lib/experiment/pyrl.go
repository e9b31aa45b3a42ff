package experiment

import (
	"fmt"
	"os"
	"time"

	"github.com/execfeed/execfeed/lib/pytask"
	"github.com/execfeed/execfeed/sandbox"
)

// The transformer experiments on Python: py-coderl (seed 004), py-eta (seed 001) and py-egca
// (seed 003) train the GPT-2 transformer (model.go) on the synthetic Python task family, or on a
// HumanEval / MBPP file (RLConfig.Problems) with a checkpoint (RLConfig.ModelDir).

// pyGPTDefaults sets the transformer experiments' documented run: the from-scratch transformer,
// 600 labelled problems for the SFT start (40 epochs at lr 2e-3: about 42 % greedy functional
// accuracy on the test problems, far from perfect), 3,000 RL prompts, 200 test problems, 100
// iterations of 64 samples.
func pyGPTDefaults(cfg *RLConfig) {
	g := DefaultGPTConfig()
	cfg.Model, cfg.GPT = ModelGPT, &g
	cfg.DataSeed, cfg.SFTSize, cfg.PromptSize, cfg.EvalSize, cfg.SFTEpochs, cfg.SFTLR, cfg.Iters, cfg.EvalEvery = 1, 600, 3000, 200, 40, 2e-3, 100, 25
}

// pyGPTQuick shrinks the transformer for the quick runs (CI): one layer of width 64, 16 test
// problems, 3 samples each.
func pyGPTQuick(cfg *RLConfig) {
	g := GPTConfig{Layers: 1, Heads: 2, Width: 64, BPEVocab: 320}
	cfg.GPT = &g
	cfg.SFTSize, cfg.PromptSize, cfg.EvalSize, cfg.SFTEpochs, cfg.Batch = 128, 64, 16, 4, 16
	cfg.Iters, cfg.Samples, cfg.EvalEvery = 2, 3, 1
}

// checkModel validates the generator's settings.
func (cfg RLConfig) checkModel() error {
	switch cfg.model() {
	case ModelGRU:
		if cfg.ModelDir != "" || cfg.GPT != nil {
			return fmt.Errorf("%s: a checkpoint directory or transformer sizes need the gpt model", cfg.Experiment)
		}
	case ModelGPT:
		if !isPython(cfg.Experiment) {
			return fmt.Errorf("%s: the transformer runs only the Python experiments (py-*)", cfg.Experiment)
		}
		g := cfg.gptConfig()
		if cfg.ModelDir == "" && (g.Layers < 1 || g.Heads < 1 || g.Width < 1 || g.Width%g.Heads != 0 || g.BPEVocab < 257) {
			return fmt.Errorf("%s: bad transformer %+v (width a multiple of heads, BPE of more than 256 entries)", cfg.Experiment, g)
		}
		if g.PromptLen < 0 || g.MaxTokens < 0 {
			return fmt.Errorf("%s: negative prompt or program length %+v", cfg.Experiment, g)
		}
		if cfg.ModelDir != "" {
			if st, err := os.Stat(cfg.ModelDir); err != nil || !st.IsDir() {
				return fmt.Errorf("%s: -model %s is not a checkpoint directory", cfg.Experiment, cfg.ModelDir)
			}
		}
	default:
		return fmt.Errorf("%s: unknown model %q (want gru or gpt)", cfg.Experiment, cfg.Model)
	}
	if cfg.Problems != "" {
		if !isPython(cfg.Experiment) {
			return fmt.Errorf("%s: a problems file needs a Python experiment", cfg.Experiment)
		}
		if cfg.model() != ModelGPT {
			return fmt.Errorf("%s: a problems file needs the transformer (-model DIR or gpt)", cfg.Experiment)
		}
		if f := sandbox.Format(cfg.problemsFormat()); f != sandbox.HumanEval && f != sandbox.MBPP {
			return fmt.Errorf("%s: problems format %q: want humaneval or mbpp", cfg.Experiment, f)
		}
		if cfg.Subset < 1 {
			return fmt.Errorf("%s: problems subset %d must be at least 1", cfg.Experiment, cfg.Subset)
		}
	} else if cfg.Subset != 0 || cfg.Format != "" {
		return fmt.Errorf("%s: a subset or format needs a problems file", cfg.Experiment)
	}
	return nil
}

func (cfg RLConfig) problemsFormat() string {
	if cfg.Format == "" {
		return string(sandbox.HumanEval)
	}
	return cfg.Format
}

// loadProblemsData builds the data of seed 001's literal set-up: the first Subset problems of a
// HumanEval or MBPP file are the SFT set, the RL prompts and the test set at once (the seed
// fine-tuned and evaluated on one 10-problem HumanEval subset; the numbers measure fitting those
// problems, not generalisation). The transformer is the checkpoint's (or a from-scratch one with
// a BPE trained on the problems' prompts and solutions).
func loadProblemsData(cfg RLConfig) (*rlData, error) {
	probs, err := sandbox.LoadProblems(cfg.Problems, sandbox.Format(cfg.problemsFormat()))
	if err != nil {
		return nil, fmt.Errorf("%s: -problems: %w", cfg.Experiment, err)
	}
	if len(probs) < cfg.Subset {
		return nil, fmt.Errorf("%s: -problems %s holds %d problems, the subset asks for %d", cfg.Experiment, cfg.Problems, len(probs), cfg.Subset)
	}
	exec, err := pyExecutor(cfg)
	if err != nil {
		return nil, err
	}
	task, err := pytask.TaskFromProblems(cfg.Problems, probs[:cfg.Subset], exec, sandbox.Options{Timeout: 5 * time.Second})
	if err != nil {
		exec.Close()
		return nil, err
	}
	d := &rlData{labelled: task, prompts: task, test: task, close: func() { exec.Close() }}
	var texts []string
	for _, p := range task.Prompts {
		texts = append(texts, p.Text, p.Reference)
	}
	if d.gpt, err = prepareGPT(cfg, texts, task); err != nil {
		exec.Close()
		return nil, err
	}
	return d, nil
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/execfeed/execfeed/lib/experiment"
)

// modelFlags are the Python experiments' generator and data flags: -model (gru, gpt or a Hugging
// Face checkpoint directory), -problems/-format/-subset (a HumanEval or MBPP file instead of the
// synthetic family), -sft-epochs and -sft-lr.
type modelFlags struct {
	model, problems, format, sftCache *string
	subset, sftEpochs                 *int
	sftLR                             *float64
}

func pyModelFlags(c *cli, full experiment.RLConfig) *modelFlags {
	def := full.Model
	if def == "" {
		def = experiment.ModelGRU
	}
	f := &modelFlags{
		model:     c.string("model", def, nil, "the generator: gru, gpt (the GPT-2 transformer from scratch) or a Hugging Face GPT-2 checkpoint directory"),
		problems:  c.string("problems", "", nil, "a HumanEval or MBPP JSONL file instead of the synthetic task family (its first -subset problems are SFT set, RL prompts and test set: seed 001's set-up)"),
		format:    c.string("format", "humaneval", []string{"humaneval", "mbpp"}, "format of -problems"),
		subset:    c.int("subset", 10, 1, "problems of -problems used"),
		sftEpochs: c.int("sft-epochs", full.SFTEpochs, 0, "epochs of the supervised start"),
		sftLR:     c.float("sft-lr", full.SFTLR, true, "learning rate of the supervised start"),
		sftCache:  c.string("sft-cache", "", nil, "folder where the transformer's SFT start of each seed is saved and, with the same settings, loaded instead of retrained"),
	}
	c.require("sft-cache", func() bool { return *f.model != experiment.ModelGRU }, "only the transformer's start is cached; -model is gru")
	for _, name := range []string{"format", "subset"} {
		c.require(name, func() bool { return c.set("problems") }, "only matters with -problems")
	}
	c.checks = append(c.checks, func() error {
		m := *f.model
		if m != experiment.ModelGRU && m != experiment.ModelGPT {
			if st, err := os.Stat(m); err != nil || !st.IsDir() {
				return fmt.Errorf("-model %s: want gru, gpt or a checkpoint directory (config.json, model.safetensors, tokenizer)", m)
			}
			if _, err := os.Stat(filepath.Join(m, "config.json")); err != nil {
				return fmt.Errorf("-model %s: no config.json: not a Hugging Face checkpoint directory", m)
			}
		}
		if c.set("problems") {
			if m == experiment.ModelGRU {
				return errors.New("-problems needs the transformer: -model gpt or a checkpoint directory")
			}
			if _, err := os.Stat(*f.problems); err != nil {
				return fmt.Errorf("-problems: %w", err)
			}
		}
		return nil
	})
	return f
}

// apply sets cfg's generator and data from the flags (unset flags keep the preset's values).
func (f *modelFlags) apply(c *cli, cfg *experiment.RLConfig) {
	if c.set("model") {
		switch m := *f.model; m {
		case experiment.ModelGRU:
			cfg.Model, cfg.GPT = "", nil
		case experiment.ModelGPT:
			if cfg.Model != experiment.ModelGPT {
				g := experiment.DefaultGPTConfig()
				cfg.Model, cfg.GPT = m, &g
			}
		default:
			cfg.Model, cfg.ModelDir = experiment.ModelGPT, m
			if cfg.GPT == nil {
				g := experiment.DefaultGPTConfig()
				cfg.GPT = &g
			}
		}
	}
	if c.set("problems") {
		// A subset of a few problems: 8 programs per iteration (PPO's 8 prompts must fit in it).
		cfg.Problems, cfg.Format, cfg.Subset, cfg.Batch = *f.problems, *f.format, *f.subset, min(cfg.Batch, 8)
	}
	if c.set("sft-epochs") {
		cfg.SFTEpochs = *f.sftEpochs
	}
	if c.set("sft-lr") {
		cfg.SFTLR = *f.sftLR
	}
	cfg.SFTCache = *f.sftCache
}

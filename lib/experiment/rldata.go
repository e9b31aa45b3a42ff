package experiment

import (
	"fmt"

	"github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/rpntask"
	"github.com/execfeed/execfeed/lib/seq2seq"
)

// rlData is what an RL experiment trains and evaluates on, whatever the language: the GRU
// generator's vocabularies, the labelled examples of the supervised start (encoded for the
// generator, and as a task), the RL prompts and the held-out test prompts.
type rlData struct {
	model         *seq2seq.Model
	lexer         seq2seq.Lexer
	sft           *seq2seq.Encoded
	labelled      *rl.Task
	prompts, test *rl.Task
	close         func()
}

// loadRLData builds the data of cfg.Experiment: rpn-* on the RPN data set, py-* on the Python
// task family.
func loadRLData(cfg RLConfig) (*rlData, error) {
	if isPython(cfg.Experiment) {
		return loadPyData(cfg)
	}
	gc := rpn.DefaultGenConfig(cfg.Dialect)
	gc.Seed = cfg.DataSeed
	split, err := rpn.Generate(gc)
	if err != nil {
		return nil, err
	}
	if cfg.SFTSize+cfg.PromptSize > len(split.Train) || cfg.EvalSize > len(split.Test) {
		return nil, fmt.Errorf("%s: %d+%d training and %d test examples requested, the data set has %d and %d",
			cfg.Experiment, cfg.SFTSize, cfg.PromptSize, cfg.EvalSize, len(split.Train), len(split.Test))
	}
	// The description vocabulary comes from every training description (descriptions are not
	// scarce here, programs are), so that test descriptions encode.
	d := &rlData{model: seq2seq.NewModel(seq2seq.DefaultConfig(), cfg.Dialect, split.Train), lexer: rpntask.Language{Dialect: cfg.Dialect},
		close: func() {}}
	if d.sft, err = d.model.Prepare(split.Train[:cfg.SFTSize]); err != nil {
		return nil, err
	}
	if d.labelled, err = rpntask.NewTask(cfg.Dialect, split.Train[:cfg.SFTSize], cfg.Tests, cfg.DataSeed+300); err != nil {
		return nil, err
	}
	if d.prompts, err = rpntask.NewTask(cfg.Dialect, split.Train[cfg.SFTSize:cfg.SFTSize+cfg.PromptSize], cfg.Tests, cfg.DataSeed+100); err != nil {
		return nil, err
	}
	if d.test, err = rpntask.NewTask(cfg.Dialect, split.Test[:cfg.EvalSize], cfg.Tests, cfg.DataSeed+200); err != nil {
		return nil, err
	}
	return d, nil
}

func isPython(experiment string) bool { return len(experiment) > 3 && experiment[:3] == "py-" }

func loadPyData(cfg RLConfig) (*rlData, error) {
	return nil, fmt.Errorf("%s: not yet", cfg.Experiment)
}

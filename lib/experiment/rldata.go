package experiment

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/execfeed/execfeed/lib/pytask"
	"github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/rpntask"
	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/sandbox"
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
	// gpt is set when the generator is the transformer (model, lexer and sft are nil then).
	gpt *gptData
}

// loadRLData builds the data of cfg.Experiment: rpn-* on the RPN data set, py-* on the Python
// task family.
func loadRLData(cfg RLConfig) (*rlData, error) {
	if isPython(cfg.Experiment) {
		if cfg.Problems != "" {
			return loadProblemsData(cfg)
		}
		return loadPyData(cfg)
	}
	gc := rpn.DefaultGenConfig(cfg.Dialect)
	gc.Seed = cfg.DataSeed
	split, err := rpn.Generate(gc)
	if err != nil {
		return nil, err
	}
	if err := cfg.fits(len(split.Train), len(split.Test)); err != nil {
		return nil, err
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

// fits checks that the data set (train and test examples) holds the examples cfg asks for.
func (cfg RLConfig) fits(train, test int) error {
	if cfg.SFTSize+cfg.PromptSize > train || cfg.EvalSize > test {
		return fmt.Errorf("%s: %d+%d training and %d test examples requested, the data set has %d and %d",
			cfg.Experiment, cfg.SFTSize, cfg.PromptSize, cfg.EvalSize, train, test)
	}
	return nil
}

func isPython(experiment string) bool { return strings.HasPrefix(experiment, "py-") }

// loadPyData builds the Python experiments' data: the synthetic task family (pytask), one
// sandbox pool for every run, and a GRU generator whose program vocabulary is the lexemes of the
// training programs and whose lengths fit the longest description and program.
func loadPyData(cfg RLConfig) (*rlData, error) {
	gc := pytask.DefaultGenConfig()
	gc.Seed = cfg.DataSeed
	split, err := pytask.Generate(gc)
	if err != nil {
		return nil, err
	}
	if err := cfg.fits(len(split.Train), len(split.Test)); err != nil {
		return nil, err
	}
	pairs := func(exs []pytask.Example) ([]seq2seq.Pair, error) {
		out := make([]seq2seq.Pair, len(exs))
		for i, ex := range exs {
			toks, err := pytask.Tokenize(ex.Code)
			if err != nil {
				return nil, fmt.Errorf("%s: example %d: %w", cfg.Experiment, i, err)
			}
			out[i] = seq2seq.Pair{Description: strings.Fields(ex.Description), Program: toks}
		}
		return out, nil
	}
	d := &rlData{}
	if cfg.model() == ModelGRU {
		train, err := pairs(split.Train)
		if err != nil {
			return nil, err
		}
		if d, err = pyGRU(cfg, train); err != nil {
			return nil, err
		}
	}
	exec, err := pyExecutor(cfg)
	if err != nil {
		return nil, err
	}
	d.close = func() { exec.Close() }
	opts := sandbox.Options{Timeout: 2 * time.Second}
	for _, part := range []struct {
		into **rl.Task
		name string
		exs  []pytask.Example
	}{
		{&d.labelled, "sft", split.Train[:cfg.SFTSize]},
		{&d.prompts, "prompts", split.Train[cfg.SFTSize : cfg.SFTSize+cfg.PromptSize]},
		{&d.test, "test", split.Test[:cfg.EvalSize]},
	} {
		if *part.into, err = pytask.NewTask(cfg.Experiment+"/"+part.name, part.exs, exec, opts); err != nil {
			exec.Close()
			return nil, err
		}
	}
	if cfg.model() == ModelGPT {
		// The BPE learns from every training description and program (descriptions are not
		// scarce, programs are; the GRU's vocabularies come from the same texts).
		var texts []string
		for _, ex := range split.Train {
			texts = append(texts, ex.Description, ex.Code)
		}
		if d.gpt, err = prepareGPT(cfg, texts, d.labelled, d.prompts, d.test); err != nil {
			exec.Close()
			return nil, err
		}
	}
	return d, nil
}

// pyGRU is the GRU generator of the Python experiments: its program vocabulary is the lexemes of
// the training programs, its lengths fit the longest description and program.
func pyGRU(cfg RLConfig, train []seq2seq.Pair) (*rlData, error) {
	var err error
	mc := seq2seq.DefaultConfig()
	mc.SrcLen, mc.TgtLen = 0, 0
	for _, p := range train {
		mc.SrcLen, mc.TgtLen = max(mc.SrcLen, len(p.Description)), max(mc.TgtLen, len(p.Program)+1)
	}
	mc.TgtLen = (mc.TgtLen + 7) / 8 * 8
	d := &rlData{model: seq2seq.NewModelFor(mc, train, nil), lexer: pytask.Language{}}
	if d.sft, err = d.model.PreparePairs(train[:cfg.SFTSize]); err != nil {
		return nil, err
	}
	return d, nil
}

// pyExecutor is the one sandbox pool (or remote executor) every run of a Python experiment uses.
func pyExecutor(cfg RLConfig) (sandbox.Executor, error) {
	workers := cfg.Workers
	if workers <= 0 {
		workers = min(runtime.NumCPU(), 4)
	}
	exec, _, err := sandbox.OpenExecutor(cfg.Exec, sandbox.PoolConfig{Workers: workers}, sandbox.RemoteConfig{})
	if err != nil {
		return nil, fmt.Errorf("%s: the Python sandbox: %w", cfg.Experiment, err)
	}
	return exec, nil
}

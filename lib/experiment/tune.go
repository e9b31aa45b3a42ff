package experiment

import (
	"fmt"
	"math"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/tpe"
)

// TuneResult records a TPE search over one routine's learning rate (and λ for DEF routines),
// as seed 000 did with Optuna: each trial trains TuneEpochs epochs and scores the best
// validation exact-match accuracy.
type TuneResult struct {
	Routine    string       `json:"routine"`
	Trials     []TrialScore `json:"trials"`
	BestValAcc float64      `json:"best_val_exact"`
	BestLR     float64      `json:"best_lr"`
	BestLambda float64      `json:"best_lambda"`
}

// TrialScore is one tuning trial.
type TrialScore struct {
	LR      float64 `json:"lr"`
	Lambda  float64 `json:"lambda"`
	ValAcc  float64 `json:"best_val_exact"`
	Seconds float64 `json:"seconds"`
}

// Search ranges of the TPE tuning (log-uniform).
var (
	TuneLRRange     = [2]float64{1e-4, 1e-2}
	TuneLambdaRange = [2]float64{1e-5, 1e-1}
)

func tuneRoutine(s *defSetup, cfg DEFConfig, r Routine) (*TuneResult, error) {
	epochs := cfg.TuneEpochs
	if epochs <= 0 {
		epochs = max(1, cfg.Epochs/4)
	}
	study, err := goptuna.CreateStudy("rpn-def-"+r.Name,
		goptuna.StudyOptionSampler(tpe.NewSampler(tpe.SamplerOptionSeed(cfg.Seed))),
		goptuna.StudyOptionDirection(goptuna.StudyDirectionMaximize))
	if err != nil {
		return nil, err
	}
	out := &TuneResult{Routine: r.Name, BestValAcc: math.Inf(-1)}
	objective := func(trial goptuna.Trial) (float64, error) {
		t := r
		var err error
		if t.LR, err = trial.SuggestLogFloat("lr", TuneLRRange[0], TuneLRRange[1]); err != nil {
			return 0, err
		}
		if r.Lambda > 0 {
			if t.Lambda, err = trial.SuggestLogFloat("lambda", TuneLambdaRange[0], TuneLambdaRange[1]); err != nil {
				return 0, err
			}
		}
		res, err := runRoutine(s, cfg, t, epochs, nil, nil)
		if err != nil {
			return 0, err
		}
		out.Trials = append(out.Trials, TrialScore{LR: t.LR, Lambda: t.Lambda, ValAcc: res.BestVal, Seconds: res.Seconds})
		logf(cfg.Log, "tune %-12s trial %2d/%d  lr %.2e  λ %.2e  best val exact %.2f%%  (%.0fs)\n",
			r.Name, len(out.Trials), cfg.TuneTrials, t.LR, t.Lambda, 100*res.BestVal, res.Seconds)
		if res.BestVal > out.BestValAcc {
			out.BestValAcc, out.BestLR, out.BestLambda = res.BestVal, t.LR, t.Lambda
		}
		return res.BestVal, nil
	}
	if err := study.Optimize(objective, cfg.TuneTrials); err != nil {
		return nil, fmt.Errorf("TPE: %w", err)
	}
	return out, nil
}

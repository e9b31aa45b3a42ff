package experiment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
)

// resumedRuns are the runs an interrupted RL experiment left in cfg.OutDir/results.json, when
// cfg.Resume asks for them: nil without Resume or without a results file; an error when the file
// was written with another configuration (its runs would not be comparable with the new ones).
// Every run starts from its seed's SFT start with its own seeds, so a resumed experiment gives
// the numbers of an uninterrupted one.
func resumedRuns(cfg RLConfig) ([]RLRun, error) {
	if !cfg.Resume {
		return nil, nil
	}
	path := ResultsPath(cfg.OutDir)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		logf(cfg.Log, "%s: nothing to resume in %s, starting afresh\n", cfg.Experiment, cfg.OutDir)
		return nil, nil
	}
	old, err := LoadRLResults(path)
	if err != nil {
		return nil, fmt.Errorf("-resume: %w", err)
	}
	a, b := old.Config, cfg
	a.OutDir, b.OutDir, b.Log = "", "", nil
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		return nil, fmt.Errorf("-resume: %s was written with another configuration:\n  it: %s\n now: %s", path, ja, jb)
	}
	var keep []RLRun
	for _, r := range old.Runs {
		if slices.Contains(cfg.Methods, r.Method) && slices.Contains(cfg.Seeds, r.Seed) {
			keep = append(keep, r)
		}
	}
	logf(cfg.Log, "%s: resuming %s: %d of %d runs done\n", cfg.Experiment, path, len(keep), len(cfg.Methods)*len(cfg.Seeds))
	return keep, nil
}

// hasRun reports whether runs hold method's run of seed.
func hasRun(runs []RLRun, method string, seed int64) bool {
	return slices.ContainsFunc(runs, func(r RLRun) bool { return r.Method == method && r.Seed == seed })
}

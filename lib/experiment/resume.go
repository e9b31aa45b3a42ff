package experiment

import (
	"fmt"
	"slices"
	"time"
)

// An RL experiment keeps its whole state in cfg.OutDir/checkpoint.gob (rlState): the finished
// (method, seed) runs, the supervised start of the seed being run, and the run part way through -
// its policy's store, its method's and prompt sampler's state, its accumulators. It saves after
// every supervised start and every method run, after an iteration when cfg.CheckpointEvery has
// passed, and when cfg.Context is cancelled (then RunRL returns an *Interrupted error). With
// cfg.Resume it continues from the checkpoint and gives the numbers an uninterrupted run gives, on
// the CPU backend bit for bit; a finished run deletes it.

// rlState is the whole state of an RL experiment part way, as its checkpoint holds it.
type rlState struct {
	Provenance Provenance    // the run's, from when it started
	Elapsed    time.Duration // the run's time so far
	Runs       []RLRun       // the finished (method, seed) runs
	// SFT is the supervised start of seed SFTSeed, its generator's weights (trainer.Marshal), so
	// that a resumed run does not train it again; nil before a start is trained.
	SFTSeed int64
	SFT     []byte
	Current *rlRunState // the run part way through (nil: none)

	fresh bool // not read from a checkpoint
}

// rlRunState is one (method, seed) run part way through: with it rlRunner.run continues as if it
// had never stopped.
type rlRunState struct {
	Run  RLRun // the method and seed, and what the run has recorded so far: curve, phases, means, last stats
	Iter int   // iterations done
	Busy time.Duration
	// Policy is the policy's store (trainer.Marshal): its weights, the critic or value head, the
	// optimizers' state and the random number generator sampling draws from. Method is the
	// method's own state (rl.Stateful; nil for a method without any), Prompts the prompt
	// sampler's (rl.Prompts.MarshalBinary). The frozen reference is rebuilt from the start.
	Policy, Method, Prompts []byte
}

// openRLState reads the state of an unfinished run from cfg.OutDir's checkpoint when cfg.Resume
// asks for it (readCheckpoint): without a checkpoint there a resumed run starts afresh; without
// cfg.Resume a checkpoint there is an error, as a new run would overwrite the unfinished one's.
func openRLState(cfg RLConfig) (*rlState, error) {
	st := &rlState{fresh: true}
	ok, err := readCheckpoint(cfg.OutDir, cfg.Experiment, cfg, st, cfg.Resume, cfg.Log)
	if err != nil || !ok {
		return st, err
	}
	st.fresh = false
	where := ""
	if c := st.Current; c != nil {
		where = fmt.Sprintf("; %s seed %d at iteration %d/%d", c.Run.Method, c.Run.Seed, c.Iter, cfg.Iters)
	}
	logf(cfg.Log, "%s: resuming from %s: %d of %d runs done%s\n", cfg.Experiment, CheckpointPath(cfg.OutDir),
		len(st.Runs), len(cfg.Methods)*len(cfg.Seeds), where)
	return st, nil
}

// hasRun reports whether runs hold method's run of seed.
func hasRun(runs []RLRun, method string, seed int64) bool {
	return slices.ContainsFunc(runs, func(r RLRun) bool { return r.Method == method && r.Seed == seed })
}

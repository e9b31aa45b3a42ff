// Package rl trains program generators from execution feedback with reinforcement learning:
// the critic-augmented REINFORCE of seed 004 (reinforce.go, critic.go), binary-reward PPO and
// trace-based DPO of seed 001 (ppo.go, dpo.go), and GRPO with or without the execution-grounded
// credit assignment of seed 003 (grpo.go, egca.go).
//
// Methods see two seams only. A Task (task.go) is prompts with reference programs and unit tests,
// an executor from the sandbox, and a Language: how a program is tokenised, how runs are compared
// for trace preferences, where a failing program first diverges. A Policy (policy.go) is any
// autoregressive model that writes programs and scores given ones. RPN (lib/rpntask) and Python
// (lib/pytask) are tasks; the GRU encoder-decoder (seq2seq.Policy) and the GPT-2 transformer are
// policies.
//
// Every method is the same loop - sample programs, run them in the sandbox, score them, update -
// and shares the machinery in this file and in loss.go:
//
//	ro, _ := rl.Sample(pol, task, rows, 1.0) // programs + log-probs
//	_ = ro.Execute(reward.Outcome)           // outcome, trace, reward
//
// A method then turns the rollout's rewards into per-token weights or advantages and runs one of
// the losses of loss.go through a trainer.Step.
package rl

import (
	"context"
	"fmt"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/sandbox"
)

// Rollout is a batch of programs generated for prompts of a Task, with what happened when they ran.
// Rows past N are padding (they repeat row 0) and are masked out of every loss.
type Rollout struct {
	Task   *Task
	Policy Policy
	Rows   []int // prompt index of each row (BatchSize entries)
	N      int   // real rows
	T      int   // positions per row (the policy's MaxTokens)
	// Tokens are the generated ids [B,T]; LogProbs their log-probabilities under the policy that
	// generated them (nil for greedy rollouts).
	Tokens   []int32
	LogProbs []float32
	// Lengths counts the positions of each row that were generated before decoding stopped: the
	// program's tokens plus the end token that ended it, at most T.
	Lengths []int
	// Programs are the completions' source texts (the policy's Decode); Lexemes their tokens in
	// the task's language (nil for a program the language cannot tokenise).
	Programs []string
	Lexemes  [][]string
	Results  []sandbox.Result
	Samples  []reward.Sample
	Rewards  []float64
	// Parts, when the reward is a weighted sum of named parts (ExecuteRewards), holds each
	// part's value per real row.
	Parts map[string][]float64
	// Traced asks Execute to trace the runs when the language's rules read traces (set by the
	// methods that use StepsCorrect or Divergence: ETA-DPO, EGCA). Untraced, a language that
	// needs traces reports StepsCorrect -1.
	Traced bool
}

// Sample draws one program per entry of rows (prompt indices of task, at most the policy's batch
// size; repeat an index to draw several programs for one prompt) at the given temperature; a
// temperature of 0 decodes greedily (seed 004's baseline sample).
func Sample(pol Policy, task *Task, rows []int, temperature float32) (*Rollout, error) {
	B := pol.BatchSize()
	if len(rows) == 0 || len(rows) > B {
		return nil, fmt.Errorf("rl: %d rows for a policy of batch size %d", len(rows), B)
	}
	for _, r := range rows {
		if r < 0 || r >= task.Len() {
			return nil, fmt.Errorf("rl: row %d outside the task's %d prompts", r, task.Len())
		}
	}
	full := make([]int, B)
	for i := range full {
		full[i] = rows[0]
		if i < len(rows) {
			full[i] = rows[i]
		}
	}
	ro := &Rollout{Task: task, Policy: pol, Rows: full, N: len(rows), T: pol.MaxTokens()}
	var err error
	if ro.Tokens, ro.LogProbs, ro.Lengths, err = pol.Generate(task.Texts(full), temperature); err != nil {
		return nil, fmt.Errorf("rl: task %q: generating: %w", task.Name, err)
	}
	ro.decode()
	return ro, nil
}

// decode fills Programs and Lexemes from Tokens.
func (ro *Rollout) decode() {
	B, T := len(ro.Rows), ro.T
	ro.Programs, ro.Lexemes = make([]string, B), make([][]string, B)
	for r := range B {
		ro.Programs[r] = ro.Policy.Decode(ro.Tokens[r*T : r*T+ro.Lengths[r]])
		if lex, err := ro.Task.Lang.Tokenize(ro.Programs[r]); err == nil {
			ro.Lexemes[r] = lex
		}
	}
}

// Execute runs every real row's program against its prompt's tests (traced when the language's
// rules need traces), fills Results and Samples, and scores each sample with f.
func (ro *Rollout) Execute(f reward.Func) error {
	return ro.execute(func(s reward.Sample) (float64, map[string]float64, error) { return f(s), nil, nil })
}

// ExecuteRewards is Execute with a weighted sum of named rewards: each part is kept in Parts,
// and a reward that panics, or does not return within its time limit, is an error naming the
// reward and the sample.
func (ro *Rollout) ExecuteRewards(rs Rewards) error {
	if err := rs.validate(); err != nil {
		return err
	}
	return ro.execute(rs.score)
}

func (ro *Rollout) execute(score func(reward.Sample) (float64, map[string]float64, error)) error {
	task := ro.Task
	lang := task.Lang
	opts := task.Options
	traced := lang.NeedsTrace() && ro.Traced
	if traced {
		opts.Trace = true
	}
	rows := ro.Rows[:ro.N]
	// Runs whose options agree go to the executor as one batch (a Python pool runs them in
	// parallel); RPN names each prompt's reference in its options, so its runs go one by one.
	type group struct {
		opts sandbox.Options
		idx  []int
	}
	var groups []group
	for r := range ro.N {
		o := lang.RunOptions(task.Prompts[rows[r]], opts)
		if len(groups) == 0 || groups[len(groups)-1].opts != o {
			groups = append(groups, group{opts: o})
		}
		g := &groups[len(groups)-1]
		g.idx = append(g.idx, r)
	}
	ro.Results = make([]sandbox.Result, ro.N)
	ctx := context.Background()
	for _, g := range groups {
		jobs := make([]sandbox.Job, len(g.idx))
		for i, r := range g.idx {
			p := task.Prompts[rows[r]]
			jobs[i] = sandbox.Job{Program: sandbox.Program{Lang: lang.Name(), Source: p.Program(ro.Programs[r])}, Tests: p.Tests}
		}
		res, err := task.Exec.RunBatch(ctx, jobs, g.opts)
		if err != nil {
			return fmt.Errorf("rl: task %q: running samples: %w", task.Name, err)
		}
		for i, r := range g.idx {
			ro.Results[r] = res[i]
		}
	}
	var refs []sandbox.Result
	if traced {
		var err error
		if refs, err = task.referenceRuns(ctx, rows); err != nil {
			return err
		}
	}
	ro.Samples = make([]reward.Sample, ro.N)
	ro.Rewards = make([]float64, ro.N)
	for r := range ro.N {
		p := task.Prompts[rows[r]]
		res := ro.Results[r]
		var ref sandbox.Result
		if refs != nil {
			ref = refs[r]
		}
		refLex, _ := lang.Tokenize(p.Reference)
		steps := -1
		if traced || !lang.NeedsTrace() {
			steps = lang.StepsCorrect(p, res, ref)
		}
		// Rewards see whole programs (a HumanEval completion with its prompt) in the language's
		// name, which the structure rewards parse by (reward.AST, reward.DFG).
		ro.Samples[r] = reward.Sample{Task: string(lang.Name()), Description: p.Text, Program: p.Program(ro.Programs[r]),
			Tokens: ro.Lexemes[r], Reference: p.Program(p.Reference), ReferenceTokens: refLex, Outcome: res.Outcome, Passed: res.Passed,
			Total: len(p.Tests), Error: res.Error, StepsCorrect: steps, DivergencePos: -1,
			Tests: res.Tests, Trace: res.Trace}
		v, parts, err := score(ro.Samples[r])
		if err != nil {
			return fmt.Errorf("rl: task %q prompt %s sample %q: %w", task.Name, p.ID, ro.Programs[r], err)
		}
		ro.Rewards[r] = v
		for name, x := range parts {
			if ro.Parts == nil {
				ro.Parts = map[string][]float64{}
			}
			if ro.Parts[name] == nil {
				ro.Parts[name] = make([]float64, ro.N)
			}
			ro.Parts[name][r] = x
		}
	}
	return nil
}

// Mask is 1 on the generated positions of real rows and 0 elsewhere, [B,T].
func (ro *Rollout) Mask() []float32 {
	m := make([]float32, len(ro.Tokens))
	for r := range ro.N {
		for t := range ro.Lengths[r] {
			m[r*ro.T+t] = 1
		}
	}
	return m
}

// Inputs returns the policy's teacher-forcing inputs of the rollout's rows: the tensors its
// TokenLogProbs reads.
func (ro *Rollout) Inputs() ([]*tensors.Tensor, error) {
	return ro.Policy.Inputs(ro.Task.Texts(ro.Rows), ro.Tokens)
}

// PassCount is the number of real rows whose program passed every test.
func (ro *Rollout) PassCount() int {
	n := 0
	for _, res := range ro.Results {
		if res.Outcome == sandbox.PassedTest {
			n++
		}
	}
	return n
}

// Select gathers the rows order (indices into the rollout, len(order) == the batch size) into
// prompts and token rows, e.g. DPO's chosen and rejected rows, with their mask.
func (ro *Rollout) Select(order []int) (prompts []string, ids []int32, mask []float32) {
	B, T := len(order), ro.T
	m := ro.Mask()
	ids, mask, prompts = make([]int32, B*T), make([]float32, B*T), make([]string, B)
	for i, r := range order {
		copy(ids[i*T:(i+1)*T], ro.Tokens[r*T:(r+1)*T])
		copy(mask[i*T:(i+1)*T], m[r*T:(r+1)*T])
		prompts[i] = ro.Task.Prompts[ro.Rows[r]].Text
	}
	return prompts, ids, mask
}

// TokenSpan maps a byte span [start, end) of row r's program to the positions [first, last] of
// the row's tokens that produced it, by decoding growing prefixes of the row: token t covers
// the bytes its decoding added. A span at the end of the program (start == its length) maps to
// the row's end token, when the row has one. ok is false when the span cannot be mapped.
func (ro *Rollout) TokenSpan(r, start, end int) (first, last int, ok bool) {
	row := ro.Tokens[r*ro.T : r*ro.T+ro.Lengths[r]]
	first, last = -1, -1
	prev := 0
	for t := range row {
		n := len(ro.Policy.Decode(row[:t+1]))
		if n > prev { // token t wrote bytes [prev, n)
			if first < 0 && n > start {
				first = t
			}
			if first >= 0 && prev < max(end, start+1) {
				last = t
			}
		}
		prev = n
	}
	if first >= 0 {
		return first, last, true
	}
	if start >= len(ro.Programs[r]) && len(row) > 0 && len(ro.Policy.Decode(row[:len(row)-1])) == len(ro.Programs[r]) {
		// The row's last position wrote nothing: it is the end token, which the blame falls on.
		return len(row) - 1, len(row) - 1, true
	}
	return 0, 0, false
}

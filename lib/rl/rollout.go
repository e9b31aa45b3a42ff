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
	"slices"

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
	// Traced asks Execute to trace the runs when the language's rules read traces (ETA-DPO sets
	// it for StepsCorrect; EGCA instead traces again only the rows it localises). Untraced, a
	// language that needs traces reports StepsCorrect -1.
	Traced bool
}

// Sample draws one program per entry of rows (prompt indices of task, at most the policy's batch
// size; repeat an index to draw several programs for one prompt) at the given temperature; a
// temperature of 0 decodes greedily (seed 004's baseline sample).
func Sample(pol Policy, task *Task, rows []int, temperature float32) (*Rollout, error) {
	if pol == nil || task == nil || task.Lang == nil {
		return nil, fmt.Errorf("rl: Sample needs a policy and a task with a language")
	}
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

// RolloutOf is a rollout of given programs instead of sampled ones: program i written for prompt
// rows[i] of task, ready to Execute - e.g. hand-written candidates in a notebook, or a data set's
// samples. With a policy, each program is also encoded as the policy's token row (Policy.Encode),
// so that the token-level calls (Mask, Inputs, TokenSpan, EGCAMask, a method's loss) work on it as
// on a sampled rollout; rows are padded to the policy's batch size as Sample pads them. Without a
// policy (nil) the rollout has programs and lexemes only: Execute, rewards and Pairs work on it,
// the token-level calls return an error.
func RolloutOf(pol Policy, task *Task, rows []int, programs []string) (*Rollout, error) {
	if task == nil || task.Lang == nil {
		return nil, fmt.Errorf("rl: RolloutOf needs a task with a language")
	}
	if len(rows) == 0 || len(rows) != len(programs) {
		return nil, fmt.Errorf("rl: RolloutOf: %d rows for %d programs (want as many, at least one)", len(rows), len(programs))
	}
	for _, r := range rows {
		if r < 0 || r >= task.Len() {
			return nil, fmt.Errorf("rl: RolloutOf: row %d outside task %q's %d prompts", r, task.Name, task.Len())
		}
	}
	ro := &Rollout{Task: task, Policy: pol, Rows: slices.Clone(rows), N: len(rows), Programs: slices.Clone(programs)}
	if pol != nil {
		B, T := pol.BatchSize(), pol.MaxTokens()
		if len(rows) > B {
			return nil, fmt.Errorf("rl: RolloutOf: %d programs for a policy of batch size %d", len(rows), B)
		}
		ro.T, ro.Tokens, ro.Lengths = T, make([]int32, B*T), make([]int, B)
		for i := len(rows); i < B; i++ { // padding repeats row 0, as in Sample
			ro.Rows, ro.Programs = append(ro.Rows, rows[0]), append(ro.Programs, programs[0])
		}
		for r := range B {
			ids, err := pol.Encode(ro.Programs[r])
			if err != nil {
				return nil, fmt.Errorf("rl: RolloutOf: program %q: %w", ro.Programs[r], err)
			}
			if len(ids) > T {
				return nil, fmt.Errorf("rl: RolloutOf: program %q takes %d positions, the policy has %d", ro.Programs[r], len(ids), T)
			}
			copy(ro.Tokens[r*T:], ids)
			ro.Lengths[r] = len(ids)
		}
	}
	ro.Lexemes = make([][]string, len(ro.Programs))
	for r, p := range ro.Programs {
		if lex, err := task.Lang.Tokenize(p); err == nil {
			ro.Lexemes[r] = lex
		}
	}
	return ro, nil
}

// tokenShape checks that the rollout's token rows are complete: what Mask, Select, TokenSpan and
// the losses read. A rollout from Sample always is; a hand-built one may not be.
func (ro *Rollout) tokenShape() error {
	B := len(ro.Rows)
	switch {
	case ro.N < 1 || ro.N > B:
		return fmt.Errorf("rl: rollout has %d real rows and %d prompt rows", ro.N, B)
	case ro.T < 1 || len(ro.Tokens) == 0:
		return fmt.Errorf("rl: rollout has no token rows (T %d, %d ids): build it with Sample, or RolloutOf with a policy", ro.T, len(ro.Tokens))
	case len(ro.Tokens) != B*ro.T:
		return fmt.Errorf("rl: rollout has %d token ids for %d rows of %d positions", len(ro.Tokens), B, ro.T)
	case len(ro.Lengths) != B:
		return fmt.Errorf("rl: rollout has %d row lengths for %d rows", len(ro.Lengths), B)
	}
	for r, L := range ro.Lengths {
		if L < 0 || L > ro.T {
			return fmt.Errorf("rl: rollout row %d has length %d, outside [0, %d]", r, L, ro.T)
		}
	}
	return nil
}

// programShape checks what Execute reads: a task with a language (and an executor, when exec),
// and a program for each real row, written for one of the task's prompts.
func (ro *Rollout) programShape(exec bool) error {
	if ro.Task == nil || ro.Task.Lang == nil || (exec && ro.Task.Exec == nil) {
		return fmt.Errorf("rl: rollout needs a task with a language and an executor")
	}
	if ro.N < 1 || len(ro.Rows) < ro.N || len(ro.Programs) < ro.N {
		return fmt.Errorf("rl: rollout has %d real rows, %d prompt rows and %d programs", ro.N, len(ro.Rows), len(ro.Programs))
	}
	if ro.Lexemes != nil && len(ro.Lexemes) < ro.N {
		return fmt.Errorf("rl: rollout has %d lexeme rows for %d real rows", len(ro.Lexemes), ro.N)
	}
	for _, r := range ro.Rows[:ro.N] {
		if r < 0 || r >= ro.Task.Len() {
			return fmt.Errorf("rl: rollout row for prompt %d outside task %q's %d prompts", r, ro.Task.Name, ro.Task.Len())
		}
	}
	return nil
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
	if f == nil {
		return fmt.Errorf("rl: Execute: nil reward function")
	}
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
	if err := ro.programShape(true); err != nil {
		return err
	}
	if ro.Lexemes == nil { // a hand-built rollout: the language's tokens, as decode gives them
		ro.Lexemes = make([][]string, ro.N)
		for r := range ro.N {
			ro.Lexemes[r], _ = ro.Task.Lang.Tokenize(ro.Programs[r])
		}
	}
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
		res, err := ro.run(g.idx, g.opts)
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

// Mask is 1 on the generated positions of real rows and 0 elsewhere, [B,T]. It is an error when
// the token rows are incomplete (a hand-built rollout without tokens or lengths).
func (ro *Rollout) Mask() ([]float32, error) {
	if err := ro.tokenShape(); err != nil {
		return nil, err
	}
	m := make([]float32, len(ro.Tokens))
	for r := range ro.N {
		for t := range ro.Lengths[r] {
			m[r*ro.T+t] = 1
		}
	}
	return m, nil
}

// Inputs returns the policy's teacher-forcing inputs of the rollout's rows: the tensors its
// TokenLogProbs reads.
func (ro *Rollout) Inputs() ([]*tensors.Tensor, error) {
	if err := ro.tokenShape(); err != nil {
		return nil, err
	}
	if ro.Policy == nil {
		return nil, fmt.Errorf("rl: rollout has no policy")
	}
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
func (ro *Rollout) Select(order []int) (prompts []string, ids []int32, mask []float32, err error) {
	m, err := ro.Mask()
	if err != nil {
		return nil, nil, nil, err
	}
	for _, r := range order {
		if r < 0 || r >= len(ro.Rows) {
			return nil, nil, nil, fmt.Errorf("rl: Select: row %d outside the rollout's %d rows", r, len(ro.Rows))
		}
	}
	B, T := len(order), ro.T
	ids, mask, prompts = make([]int32, B*T), make([]float32, B*T), make([]string, B)
	for i, r := range order {
		copy(ids[i*T:(i+1)*T], ro.Tokens[r*T:(r+1)*T])
		copy(mask[i*T:(i+1)*T], m[r*T:(r+1)*T])
		prompts[i] = ro.Task.Prompts[ro.Rows[r]].Text
	}
	return prompts, ids, mask, nil
}

// TokenSpan maps a byte span [start, end) of row r's program to the positions [first, last] of
// the row's tokens that produced it, by decoding growing prefixes of the row: token t covers
// the bytes its decoding added. A span at the end of the program (start == its length) maps to
// the row's end token, when the row has one. ok is false when the span cannot be mapped (or the
// rollout has no token row r, or no policy to decode it).
func (ro *Rollout) TokenSpan(r, start, end int) (first, last int, ok bool) {
	if ro.Policy == nil || ro.tokenShape() != nil || r < 0 || r >= ro.N || r >= len(ro.Programs) {
		return 0, 0, false
	}
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

// run runs the programs of the rollout's rows idx against their prompts' tests with opts.
func (ro *Rollout) run(idx []int, opts sandbox.Options) ([]sandbox.Result, error) {
	rows, programs := make([]int, len(idx)), make([]string, len(idx))
	for i, r := range idx {
		rows[i], programs[i] = ro.Rows[r], ro.Programs[r]
	}
	return ro.Task.run(context.Background(), rows, programs, opts)
}

// Package rl trains the seq2seq generator from execution feedback with reinforcement learning:
// the critic-augmented REINFORCE of seed 004 (reinforce.go, critic.go), binary-reward PPO and
// trace-based DPO of seed 001 (ppo.go, dpo.go), and GRPO with or without the execution-grounded
// credit assignment of seed 003 (grpo.go, egca.go).
//
// Every method is the same loop - sample programs, run them in the sandbox, score them, update -
// and shares the machinery in this file and in loss.go:
//
//	task, _ := rl.NewTask(model, rpn.Ext, examples, rl.DefaultTests, seed) // prompts + unit tests
//	pol := rl.NewPolicy(gen)                                               // a seq2seq.Generator
//	ro, _ := pol.Sample(task, rows, 1.0)                                   // programs + log-probs
//	_ = ro.Execute(reward.Outcome)                                         // outcome, trace, reward
//
// A method then turns the rollout's rewards into per-token weights or advantages and runs one of
// the losses of loss.go through a trainer.Step.
package rl

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/seq2seq"
	"github.com/execfeed/execfeed/lib/trainer"
	"github.com/execfeed/execfeed/sandbox"
)

// DefaultTests is the number of unit tests (random inputs) per RPN prompt.
const DefaultTests = 6

// InputRange bounds the test inputs: a, b and c are drawn uniformly from [-InputRange, InputRange].
const InputRange = 9

// Task is what reinforcement learning trains on: prompts (descriptions, encoded for the
// generator), their reference programs (used only by rewards that compare with a reference, by
// trace-based preferences and by EGCA - never imitated), and unit tests: inputs with the
// reference's outputs.
type Task struct {
	Dialect  rpn.Dialect
	Examples []rpn.Example
	Data     *seq2seq.Encoded
	Tests    [][]sandbox.Test // per example
	Dropped  int              // examples left out: their reference fails on almost every input
}

// NewTask draws n unit tests per example, deterministically from seed, and encodes the examples
// for model m. Inputs on which the reference fails (division by zero) are skipped. An example
// whose reference fails on almost every input ("divide b by 0") has no usable tests - every
// program, the reference included, would be a runtime error - so it is left out; Dropped counts
// those.
func NewTask(m *seq2seq.Model, d rpn.Dialect, examples []rpn.Example, n int, seed uint64) (*Task, error) {
	if n < 1 {
		return nil, fmt.Errorf("rl: %d tests per prompt, want at least 1", n)
	}
	t := &Task{Dialect: d}
	for i, ex := range examples {
		ref, err := sandbox.CompileRPN(ex.Program, d)
		if err != nil {
			return nil, fmt.Errorf("rl: example %d reference %q: %w", i, ex.Program, err)
		}
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		var tests []sandbox.Test
		for try := 0; len(tests) < n && try < 20*n; try++ {
			env := rpn.Env{A: draw(rng), B: draw(rng), C: draw(rng)}
			if want, err := ref.Eval(env); err == nil {
				tests = append(tests, sandbox.Test{Env: env, Want: want})
			}
		}
		if len(tests) < n {
			t.Dropped++
			continue
		}
		t.Examples = append(t.Examples, ex)
		t.Tests = append(t.Tests, tests)
	}
	if len(t.Examples) == 0 {
		return nil, fmt.Errorf("rl: none of the %d examples has a reference that runs", len(examples))
	}
	var err error
	if t.Data, err = m.Prepare(t.Examples); err != nil {
		return nil, fmt.Errorf("rl: %w", err)
	}
	return t, nil
}

func draw(rng *rand.Rand) int64 { return rng.Int64N(2*InputRange+1) - InputRange }

// Len is the number of prompts.
func (t *Task) Len() int { return len(t.Examples) }

// Envs returns the inputs of example i's tests.
func (t *Task) Envs(i int) []rpn.Env {
	envs := make([]rpn.Env, len(t.Tests[i]))
	for j, test := range t.Tests[i] {
		envs[j] = test.Env
	}
	return envs
}

// Policy is a generator seen as a policy: it samples programs and scores given token sequences
// (log-probabilities of every token, teacher-forced).
type Policy struct {
	*seq2seq.Generator
	logp *model.Exec
}

// NewPolicy wraps a generator.
func NewPolicy(g *seq2seq.Generator) *Policy { return &Policy{Generator: g} }

// Rollout is a batch of programs generated for prompts of a Task, with what happened when they ran.
// Rows past N are padding (they repeat row 0) and are masked out of every loss.
type Rollout struct {
	Task *Task
	Rows []int // example index of each row
	N    int   // real rows
	T    int   // positions per row (the generator's TgtLen)
	// Batch holds the description tensors of the rows.
	Batch seq2seq.Batch
	// Tokens are the generated ids [B,T]; LogProbs their log-probabilities under the policy that
	// generated them (temperature 1; nil for greedy rollouts).
	Tokens   []int32
	LogProbs []float32
	// Lengths counts the positions of each row that were generated before decoding stopped: the
	// program's tokens plus the EOS (or PAD) that ended it, at most T.
	Lengths  []int
	Programs [][]string
	Results  []sandbox.Result
	Samples  []reward.Sample
	Rewards  []float64

	vocab *seq2seq.Vocab
}

// Sample draws one program per entry of rows (example indices of task, at most the generator's
// batch size; repeat an index to draw several programs for one prompt) at the given temperature.
func (p *Policy) Sample(task *Task, rows []int, temperature float32) (*Rollout, error) {
	ro, err := p.newRollout(task, rows)
	if err != nil {
		return nil, err
	}
	toks, logp, err := p.SampleBatch(ro.Batch, temperature)
	if err != nil {
		return nil, err
	}
	V := p.Tgt.Size()
	ro.Tokens, ro.LogProbs = toks, make([]float32, len(toks))
	for i, id := range toks {
		ro.LogProbs[i] = logp[i*V+int(id)]
	}
	ro.decode()
	return ro, nil
}

// Greedy decodes one program per entry of rows greedily (seed 004's baseline sample).
func (p *Policy) Greedy(task *Task, rows []int) (*Rollout, error) {
	ro, err := p.newRollout(task, rows)
	if err != nil {
		return nil, err
	}
	if ro.Tokens, err = p.GreedyBatch(ro.Batch); err != nil {
		return nil, err
	}
	ro.decode()
	return ro, nil
}

func (p *Policy) newRollout(task *Task, rows []int) (*Rollout, error) {
	if len(rows) == 0 || len(rows) > p.Batch {
		return nil, fmt.Errorf("rl: %d rows for a generator of batch size %d", len(rows), p.Batch)
	}
	for _, r := range rows {
		if r < 0 || r >= task.Len() {
			return nil, fmt.Errorf("rl: row %d outside the task's %d prompts", r, task.Len())
		}
	}
	b := task.Data.Batch(rows, p.Batch)
	return &Rollout{Task: task, Rows: b.Index, N: b.N, T: p.Cfg.TgtLen, Batch: b, vocab: p.Tgt}, nil
}

// decode fills Programs and Lengths from Tokens.
func (ro *Rollout) decode() {
	B, T := len(ro.Rows), ro.T
	ro.Programs, ro.Lengths = make([][]string, B), make([]int, B)
	for r := range B {
		row := ro.Tokens[r*T : (r+1)*T]
		ro.Programs[r] = ro.vocab.Decode(row)
		n := T
		for t, id := range row {
			if id == seq2seq.EOS || id == seq2seq.PAD {
				n = t + 1
				break
			}
		}
		ro.Lengths[r] = n
	}
}

// Execute runs every real row's program against its prompt's tests (with the reference, so that
// StepsCorrect measures trace agreement), fills Results and Samples, and scores each sample with f.
func (ro *Rollout) Execute(f reward.Func) error {
	var exec sandbox.RPNExecutor
	lang := sandbox.Language(ro.Task.Dialect.String())
	ro.Results = make([]sandbox.Result, ro.N)
	ro.Samples = make([]reward.Sample, ro.N)
	ro.Rewards = make([]float64, ro.N)
	for r := range ro.N {
		i := ro.Rows[r]
		ex := ro.Task.Examples[i]
		toks := ro.Programs[r]
		src := strings.Join(toks, " ")
		res, err := exec.Run(context.Background(), sandbox.Program{Lang: lang, Source: src}, ro.Task.Tests[i],
			sandbox.Options{Reference: ex.Program})
		if err != nil {
			return fmt.Errorf("rl: running %q: %w", src, err)
		}
		ro.Results[r] = res
		ro.Samples[r] = reward.Sample{Task: string(lang), Description: ex.Description, Program: src, Tokens: toks,
			Reference: ex.Program, ReferenceTokens: ex.ProgramTokens(), Outcome: res.Outcome, Passed: res.Passed,
			Total: len(ro.Task.Tests[i]), Error: res.Error, StepsCorrect: res.StepsCorrect, DivergencePos: -1}
		ro.Rewards[r] = f(ro.Samples[r])
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

// Sequences returns the rollout's programs as teacher-forcing tensors: decoder input (BOS, then
// the tokens), targets (the tokens) and the mask of Mask.
func (ro *Rollout) Sequences() (decIn, tgt, mask *tensors.Tensor) {
	B, T := len(ro.Rows), ro.T
	return tensors.FromFlatDataAndDimensions(ro.decoderInput(), B, T), tensors.FromFlatDataAndDimensions(ro.Tokens, B, T),
		tensors.FromFlatDataAndDimensions(ro.Mask(), B, T)
}

// decoderInput is BOS followed by each row's tokens shifted right, [B,T].
func (ro *Rollout) decoderInput() []int32 {
	B, T := len(ro.Rows), ro.T
	in := make([]int32, B*T)
	for r := range B {
		in[r*T] = seq2seq.BOS
		copy(in[r*T+1:(r+1)*T], ro.Tokens[r*T:(r+1)*T-1])
	}
	return in
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

// logProbs is TokenLogProbs of the policy's generator on graph inputs src, srcLen, decIn, tgt
// (in[0:4]), the first inputs of every policy step.
func (p *Policy) logProbs(root *model.Scope, in []*graph.Node) *graph.Node {
	return TokenLogProbs(p.Model, root.In(seq2seq.Scope), in[0], in[1], in[2], in[3])
}

// RolloutLogProbs returns the log-probabilities [B*T] of a rollout's tokens under this policy
// (e.g. the frozen reference's, for a KL term).
func (p *Policy) RolloutLogProbs(ro *Rollout) ([]float32, error) {
	decIn, tgt, _ := ro.Sequences()
	return p.TokenLogProbs(ro.Batch, decIn, tgt)
}

// TokenLogProbs returns log π(tgt_t | tgt_<t, description) [B*T] under the policy's current weights.
func (p *Policy) TokenLogProbs(b seq2seq.Batch, decIn, tgt *tensors.Tensor) ([]float32, error) {
	if p.logp == nil {
		exec, err := trainer.NewExec(p.Backend, p.Store, "logprobs", func(root *model.Scope, in []*graph.Node) []*graph.Node {
			return []*graph.Node{p.logProbs(root, in)}
		})
		if err != nil {
			return nil, err
		}
		p.logp = exec
	}
	res, err := p.logp.Call(b.Src, b.SrcLen, decIn, tgt)
	if err != nil {
		return nil, fmt.Errorf("rl: log-probabilities: %w", err)
	}
	out := tensors.MustCopyFlatData[float32](res[0])
	res[0].FinalizeAll()
	return out, nil
}

// Select gathers the rows order (indices into the rollout, len(order) == the batch size) into a
// new batch: descriptions, teacher-forcing tensors and mask, e.g. DPO's chosen and rejected rows.
func (ro *Rollout) Select(order []int) (b seq2seq.Batch, decIn, tgt, mask *tensors.Tensor) {
	B, T := len(order), ro.T
	in, m := ro.decoderInput(), ro.Mask()
	oIn, oTg, oM := make([]int32, B*T), make([]int32, B*T), make([]float32, B*T)
	examples := make([]int, B)
	for i, r := range order {
		copy(oIn[i*T:(i+1)*T], in[r*T:(r+1)*T])
		copy(oTg[i*T:(i+1)*T], ro.Tokens[r*T:(r+1)*T])
		copy(oM[i*T:(i+1)*T], m[r*T:(r+1)*T])
		examples[i] = ro.Rows[r]
	}
	return ro.Task.Data.Batch(examples, B), tensors.FromFlatDataAndDimensions(oIn, B, T),
		tensors.FromFlatDataAndDimensions(oTg, B, T), tensors.FromFlatDataAndDimensions(oM, B, T)
}

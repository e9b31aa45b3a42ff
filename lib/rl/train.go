package rl

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/execfeed/execfeed/lib/metrics"
	"github.com/execfeed/execfeed/lib/passk"
	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/sandbox"
)

// NumClasses is the number of outcome classes a critic predicts (seed 004).
const NumClasses = sandbox.NumOutcomeClasses

// Stats are the numbers one iteration reports (mean reward, pass rate, losses...), by name.
type Stats map[string]float64

// Method is a reinforcement-learning trainer: each Iterate samples programs for the given prompt
// rows (example indices of its task), runs them, and updates the policy.
type Method interface {
	Name() string
	Iterate(rows []int) (Stats, error)
}

// Prompts cuts shuffled passes over a task's prompts into batches of Per prompts, each repeated
// Group times in a row (GRPO's groups; Group 1 for one sample per prompt).
type Prompts struct {
	N, Per, Group int
	src           *rand.PCG // rng's source, kept for MarshalBinary (state.go)
	rng           *rand.Rand
	order         []int
	pos           int
}

// NewPrompts returns a prompt sampler over n prompts, deterministic from seed.
func NewPrompts(n, per, group int, seed uint64) (*Prompts, error) {
	if n < per || per < 1 || group < 1 {
		return nil, fmt.Errorf("rl: %d prompts per batch (of %d), group %d", per, n, group)
	}
	src := rand.NewPCG(seed, 43)
	return &Prompts{N: n, Per: per, Group: group, src: src, rng: rand.New(src)}, nil
}

// Next returns the next batch of rows (Per·Group entries).
func (p *Prompts) Next() []int {
	if p.order == nil || p.pos+p.Per > len(p.order) {
		p.order, p.pos = p.rng.Perm(p.N), 0
	}
	rows := make([]int, 0, p.Per*p.Group)
	for _, i := range p.order[p.pos : p.pos+p.Per] {
		for range p.Group {
			rows = append(rows, i)
		}
	}
	p.pos += p.Per
	return rows
}

// sampleAndRun samples programs for rows, runs and scores them with f, and starts the iteration's
// statistics (rolloutStats) and phase timings ("sample", "execute").
func sampleAndRun(pol Policy, task *Task, rows []int, temperature float32, f reward.Func) (*Rollout, Stats, *phases, error) {
	return sampleAndRunWith(pol, task, rows, temperature, func(ro *Rollout) error { return ro.Execute(f) })
}

// sampleAndRunWith is sampleAndRun with the execution step given (e.g. ExecuteRewards).
func sampleAndRunWith(pol Policy, task *Task, rows []int, temperature float32, execute func(*Rollout) error) (*Rollout, Stats, *phases, error) {
	st := Stats{}
	ph := startPhases(st)
	ro, err := Sample(pol, task, rows, temperature)
	if err != nil {
		return nil, nil, nil, err
	}
	ph.mark("sample")
	if err := execute(ro); err != nil {
		return nil, nil, nil, err
	}
	ph.mark("execute")
	maps.Copy(st, rolloutStats(ro))
	return ro, st, ph, nil
}

// rolloutStats summarises an executed rollout: mean reward, pass rate and the outcome classes.
func rolloutStats(ro *Rollout) Stats {
	st := Stats{"reward": mean(ro.Rewards), "pass": float64(ro.PassCount()) / float64(ro.N)}
	for _, res := range ro.Results {
		st["frac_"+sandbox.Outcome(res.Outcome.Class()).String()] += 1 / float64(ro.N)
	}
	return st
}

// meanStd returns the mean and the population standard deviation of xs (0, 0 when empty).
func meanStd(xs []float64) (mu, sd float64) {
	mu = mean(xs)
	for _, x := range xs {
		sd += (x - mu) * (x - mu)
	}
	return mu, math.Sqrt(sd / float64(max(len(xs), 1)))
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Evaluation is a policy's score on a task: greedy accuracy and, from Samples programs per
// prompt, pass@k (unbiased estimator) and the outcome classes of the samples.
type Evaluation struct {
	Greedy   metrics.Accuracy   `json:"greedy"`
	Samples  int                `json:"samples_per_prompt"`
	PassAtK  map[string]float64 `json:"pass_at_k"`
	Outcomes map[string]float64 `json:"sample_outcomes"` // fraction of samples per outcome class
}

// inBatches cuts the prompts 0..n-1, in order, into batches of at most b.
func inBatches(n, b int) [][]int {
	var out [][]int
	for lo := 0; lo < n; lo += b {
		rows := make([]int, 0, b)
		for i := lo; i < min(lo+b, n); i++ {
			rows = append(rows, i)
		}
		out = append(out, rows)
	}
	return out
}

// Greedy decodes one program per prompt of task greedily, in order, and returns their sources.
func Greedy(pol Policy, task *Task) ([]string, error) {
	out := make([]string, 0, task.Len())
	for _, rows := range inBatches(task.Len(), pol.BatchSize()) {
		ro, err := Sample(pol, task, rows, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, ro.Programs[:ro.N]...)
	}
	return out, nil
}

// ScoreGreedy scores greedy predictions (one per prompt of task): exact match of the lexemes
// with the reference's, and functional accuracy. A language that decides equivalence itself
// (GreedyScorer: RPN) scores them; otherwise a prediction is functional when it passes the
// prompt's unit tests and well-formed when it is not a compile error.
func ScoreGreedy(task *Task, preds []string) (metrics.Accuracy, error) {
	if len(preds) != task.Len() || task.Len() == 0 {
		return metrics.Accuracy{}, fmt.Errorf("rl: %d predictions for the %d prompts of task %q", len(preds), task.Len(), task.Name)
	}
	a := metrics.Accuracy{N: len(preds)}
	refs := make([]string, task.Len())
	for i, p := range task.Prompts {
		refs[i] = p.Reference
	}
	var exact, functional, wellFormed []bool
	if gs, ok := task.Lang.(GreedyScorer); ok {
		exact, functional, wellFormed = gs.ScoreGreedy(preds, refs)
	} else {
		exact = make([]bool, len(preds))
		rows := make([]int, len(preds))
		for i := range preds {
			rows[i] = i
			pl, err1 := task.Lang.Tokenize(preds[i])
			rl, err2 := task.Lang.Tokenize(refs[i])
			exact[i] = err1 == nil && err2 == nil && slices.Equal(pl, rl)
		}
		res, err := task.run(context.Background(), rows, preds, task.Options)
		if err != nil {
			return a, fmt.Errorf("rl: task %q: running greedy predictions: %w", task.Name, err)
		}
		functional, wellFormed = make([]bool, len(res)), make([]bool, len(res))
		for i, r := range res {
			functional[i], wellFormed[i] = r.Outcome == sandbox.PassedTest, r.Outcome != sandbox.CompileError
		}
	}
	for i := range preds {
		a.Exact += b2f(exact[i])
		a.Functional += b2f(functional[i])
		a.WellFormed += b2f(wellFormed[i])
	}
	n := float64(a.N)
	a.Exact, a.Functional, a.WellFormed = a.Exact/n, a.Functional/n, a.WellFormed/n
	return a, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Evaluate scores pol on task: greedy decoding scored by ScoreGreedy (exact and functional
// match), and n samples per prompt at the given temperature run against the unit tests, for
// pass@k at each k of ks (k <= n). n = 0 skips sampling.
func Evaluate(pol Policy, task *Task, n int, temperature float32, ks []int) (*Evaluation, error) {
	preds, err := Greedy(pol, task)
	if err != nil {
		return nil, err
	}
	ev := &Evaluation{Samples: n}
	if ev.Greedy, err = ScoreGreedy(task, preds); err != nil {
		return nil, err
	}
	if n == 0 {
		return ev, nil
	}
	per := pol.BatchSize() / n
	if per < 1 {
		return nil, fmt.Errorf("rl: %d samples per prompt exceed the batch size %d", n, pol.BatchSize())
	}
	counts := make([]passk.Count, 0, task.Len())
	ev.Outcomes = map[string]float64{}
	total := 0
	for lo := 0; lo < task.Len(); lo += per {
		var rows []int
		for i := lo; i < min(lo+per, task.Len()); i++ {
			for range n {
				rows = append(rows, i)
			}
		}
		ro, err := Sample(pol, task, rows, temperature)
		if err != nil {
			return nil, err
		}
		if err := ro.Execute(reward.Outcome); err != nil {
			return nil, err
		}
		for j := 0; j < ro.N; j += n {
			c := 0
			for _, res := range ro.Results[j : j+n] {
				if res.Outcome == sandbox.PassedTest {
					c++
				}
				ev.Outcomes[sandbox.Outcome(res.Outcome.Class()).String()]++
				total++
			}
			counts = append(counts, passk.Count{N: n, C: c})
		}
	}
	for k, v := range ev.Outcomes {
		ev.Outcomes[k] = v / float64(total)
	}
	ev.PassAtK = map[string]float64{}
	for _, k := range ks {
		if k > n {
			return nil, fmt.Errorf("rl: pass@%d needs at least %d samples per prompt, have %d", k, k, n)
		}
		if ev.PassAtK[fmt.Sprintf("pass@%d", k)], err = passk.Mean(counts, k); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// phases times the parts of an iteration; each mark adds the time since the previous mark to
// the stat "sec_"+name, so that a benchmark can say where the time goes.
type phases struct {
	st   Stats
	last time.Time
}

func startPhases(st Stats) *phases { return &phases{st: st, last: time.Now()} }

func (p *phases) mark(name string) {
	now := time.Now()
	p.st["sec_"+name] += now.Sub(p.last).Seconds()
	p.last = now
}

// CriticReport is how well a critic predicts the outcome of programs it did not train on.
type CriticReport struct {
	N        int                `json:"n"`
	Accuracy float64            `json:"accuracy"` // pooled head's argmax equals the true class
	Majority float64            `json:"majority"` // share of the most frequent class: the trivial baseline
	Recall   map[string]float64 `json:"recall"`   // per true class: fraction predicted right
	Support  map[string]int     `json:"support"`  // per true class: number of programs
}

// EvaluateCritic samples one program per prompt of task (temperature 1), runs it, and scores the
// critic's pooled prediction of its outcome class.
func EvaluateCritic(c *CriticNet, pol Policy, task *Task) (*CriticReport, error) {
	rep := &CriticReport{Recall: map[string]float64{}, Support: map[string]int{}}
	right := map[string]int{}
	for _, rows := range inBatches(task.Len(), pol.BatchSize()) {
		ro, err := Sample(pol, task, rows, 1)
		if err != nil {
			return nil, err
		}
		if err := ro.Execute(Passed); err != nil {
			return nil, err
		}
		_, pooled, err := c.PredictClasses(ro)
		if err != nil {
			return nil, err
		}
		for r := range ro.N {
			u := ro.Results[r].Outcome.Class()
			name := sandbox.Outcome(u).String()
			rep.Support[name]++
			rep.N++
			p := pooled[r*NumClasses : (r+1)*NumClasses]
			best := 0
			for k := range p {
				if p[k] > p[best] {
					best = k
				}
			}
			if best == u {
				right[name]++
			}
		}
	}
	most, total := 0, 0
	for name, n := range rep.Support {
		rep.Recall[name] = float64(right[name]) / float64(n)
		total += right[name]
		most = max(most, n)
	}
	rep.Accuracy = float64(total) / float64(max(rep.N, 1))
	rep.Majority = float64(most) / float64(max(rep.N, 1))
	return rep, nil
}

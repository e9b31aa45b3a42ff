// Package rpntask makes the RPN languages (lib/rpn) tasks for the reinforcement-learning methods
// of lib/rl: prompts are the data set's descriptions, the tests are random inputs with the
// reference's outputs, programs run in-process (sandbox.RPNExecutor), and the language's rules
// - trace preferences (seed 001) and divergence (seed 003) - read RPN stacks.
package rpntask

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/sandbox"
)

// DefaultTests is the number of unit tests (random inputs) per RPN prompt.
const DefaultTests = 6

// InputRange bounds the test inputs: a, b and c are drawn uniformly from [-InputRange, InputRange].
const InputRange = 9

// Language is an RPN dialect seen as an rl.Language.
type Language struct{ Dialect rpn.Dialect }

// Name is the dialect's sandbox language ("rpn" or "rpn-ext").
func (l Language) Name() sandbox.Language { return sandbox.Language(l.Dialect.String()) }

// Tokenize splits a program at white space; every RPN program tokenises.
func (l Language) Tokenize(src string) ([]string, error) { return rpn.Tokenize(src), nil }

// Detokenize joins tokens with single spaces.
func (l Language) Detokenize(toks []string) string { return strings.Join(toks, " ") }

// NeedsTrace is false: the RPN executor compares stacks with the reference itself.
func (l Language) NeedsTrace() bool { return false }

// RunOptions names the prompt's reference, so that the executor measures StepsCorrect against it.
func (l Language) RunOptions(p rl.Prompt, o sandbox.Options) sandbox.Options {
	o.Reference = p.Reference
	return o
}

// StepsCorrect is the executor's measure: over the tests, the smallest number of leading tokens
// whose stack equals the reference's after as many tokens (sandbox.MatchingPrefix); a passing
// program scores its full length.
func (l Language) StepsCorrect(_ rl.Prompt, res, _ sandbox.Result) int { return res.StepsCorrect }

// Divergence finds the first token of candidate c whose top-of-stack value over the prompt's test
// inputs is not among the values the reference computes (Divergence), as a byte span of c; the
// end of c when there is none.
func (l Language) Divergence(p rl.Prompt, c string, _, _ sandbox.Result) (start, end int, ok bool, err error) {
	toks := rpn.Tokenize(c)
	pos, err := Divergence(toks, rpn.Tokenize(p.Reference), l.Dialect, Envs(p))
	if err != nil {
		return 0, 0, false, err
	}
	if pos == len(toks) {
		return len(c), len(c), true, nil
	}
	// Byte offset of token pos in c (tokens are separated by white space).
	off := 0
	for i := 0; i <= pos; i++ {
		off += strings.Index(c[off:], toks[i])
		if i < pos {
			off += len(toks[i])
		}
	}
	return off, off + len(toks[pos]), true, nil
}

// ScoreGreedy decides exact match and functional equivalence (canonical polynomials, exactly)
// of predictions with references.
func (l Language) ScoreGreedy(preds, refs []string) (exact, functional, wellFormed []bool) {
	exact, functional, wellFormed = make([]bool, len(preds)), make([]bool, len(preds)), make([]bool, len(preds))
	for i := range preds {
		p, r := rpn.Tokenize(preds[i]), rpn.Tokenize(refs[i])
		exact[i] = slices.Equal(p, r)
		eq, _, err := rpn.Equivalent(p, r, l.Dialect)
		functional[i], wellFormed[i] = eq, err == nil
	}
	return exact, functional, wellFormed
}

// NewTask draws n unit tests per example, deterministically from seed. Inputs on which the
// reference fails (division by zero) are skipped. An example whose reference fails on almost
// every input ("divide b by 0") has no usable tests - every program, the reference included,
// would be a runtime error - so it is left out; Task.Dropped counts those. A reference that does
// not compile is an error naming the example.
func NewTask(d rpn.Dialect, examples []rpn.Example, n int, seed uint64) (*rl.Task, error) {
	if n < 1 {
		return nil, fmt.Errorf("rpntask: %d tests per prompt, want at least 1", n)
	}
	t := &rl.Task{Name: d.String(), Lang: Language{d}, Exec: &sandbox.RPNExecutor{}}
	for i, ex := range examples {
		ref, err := sandbox.CompileRPN(ex.Program, d)
		if err != nil {
			return nil, fmt.Errorf("rpntask: example %d reference %q: %w", i, ex.Program, err)
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
		t.Prompts = append(t.Prompts, rl.Prompt{ID: strconv.Itoa(i), Text: ex.Description, Reference: ex.Program, Tests: tests})
	}
	if len(t.Prompts) == 0 {
		return nil, fmt.Errorf("rpntask: none of the %d examples has a reference that runs", len(examples))
	}
	return t, nil
}

func draw(rng *rand.Rand) int64 { return rng.Int64N(2*InputRange+1) - InputRange }

// Envs returns the inputs of prompt p's tests.
func Envs(p rl.Prompt) []rpn.Env {
	envs := make([]rpn.Env, len(p.Tests))
	for j, test := range p.Tests {
		envs[j] = test.Env
	}
	return envs
}

// Divergence is seed 003's rule for RPN. A value is a function of the test inputs: the vector of
// numbers a token leaves on top of the stack, one per input. The reference computes the set R of
// the values on top of its stack after each of its tokens (every intermediate result, operand
// and the final output). Divergence returns the index of the first token of candidate whose
// top-of-stack value over envs is not in R, or len(candidate) when there is none (the
// divergence is then the token after the program: its end). Operands and results the reference
// also computes - in any order - are not divergences, so swapping the operands of a commutative
// operation ("b a +" for "a b +") is not one. It is an error if either program fails on one of
// the inputs: EGCA applies to programs that run.
func Divergence(candidate, reference []string, d rpn.Dialect, envs []rpn.Env) (int, error) {
	if len(envs) == 0 {
		return 0, fmt.Errorf("rpntask: divergence needs at least one input")
	}
	refTops, err := topValues(reference, d, envs)
	if err != nil {
		return 0, fmt.Errorf("rpntask: reference %q: %w", strings.Join(reference, " "), err)
	}
	known := make(map[string]bool, len(refTops))
	for _, v := range refTops {
		known[v] = true
	}
	candTops, err := topValues(candidate, d, envs)
	if err != nil {
		return 0, fmt.Errorf("rpntask: candidate %q: %w", strings.Join(candidate, " "), err)
	}
	for t, v := range candTops {
		if !known[v] {
			return t, nil
		}
	}
	return len(candidate), nil
}

// topValues runs prog on every env and returns, for each token, the top-of-stack values over the
// envs as one key.
func topValues(prog []string, d rpn.Dialect, envs []rpn.Env) ([]string, error) {
	keys := make([]strings.Builder, len(prog))
	for _, env := range envs {
		_, trace, err := rpn.Run(prog, d, env)
		if err != nil {
			return nil, err
		}
		for t, stack := range trace {
			keys[t].WriteString(strconv.FormatInt(stack[len(stack)-1], 10))
			keys[t].WriteByte(',')
		}
	}
	out := make([]string, len(prog))
	for t := range keys {
		out[t] = keys[t].String()
	}
	return out, nil
}

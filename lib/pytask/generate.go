// Package pytask is Python as a task language for the reinforcement-learning methods of lib/rl:
// a synthetic task family (natural-language description -> Python function, deterministic from
// a seed, written and read as MBPP JSONL), a program tokeniser (lexer.go), loaders that turn
// HumanEval and MBPP files into tasks, and the language's execution-feedback rules - trace
// preferences (seed 001) and divergence (seed 003) - read from the sandbox's line traces
// (language.go).
//
// The family has three kinds of problems, each composed from parts with several phrasings:
//
//   - lists: "return the sum of the squares of the even numbers in xs" - a filter, a map and a
//     reduction (sum, product, count, list, first) over a list of integers;
//   - strings: "return the vowels of s in upper case, in reverse order" - a character filter, a
//     case map and a reduction (join, reverse, count) over a string;
//   - arithmetic: "if a is greater than b return a minus b, otherwise return b times 2", and
//     range loops "return the sum of the numbers from a to b".
//
// Every reference has several lines, loops, conditionals and local variables, and each problem
// has more than one correct program: the generator writes its reference in one of several styles
// (a loop, a comprehension, a conditional expression; operands in either order), so imitating
// the reference token by token punishes correct alternatives - the seeds' point. Tests are
// 4-8 asserts on random inputs; "the first ..." and integer division raise on some inputs, so
// every outcome class of seed 004 occurs among samples.
package pytask

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Example is one problem of the family: the description, the reference function and its
// assert tests (each calls the function f).
type Example struct {
	Description string   `json:"text"`
	Code        string   `json:"code"`
	Tests       []string `json:"test_list"`
}

// GenConfig configures the generator.
type GenConfig struct {
	Seed uint64
	// N is the number of distinct problems; they are split Train/Val/Test by Fractions.
	N int
	// MinTests and MaxTests bound the asserts per problem (4 and 8 by default).
	MinTests, MaxTests int
}

// DefaultGenConfig is 6,000 problems from seed 1.
func DefaultGenConfig() GenConfig { return GenConfig{Seed: 1, N: 6000, MinTests: 4, MaxTests: 8} }

// Split holds the three parts of a data set (80/10/10).
type Split struct{ Train, Val, Test []Example }

// Generate draws cfg.N distinct problems (by description) deterministically from cfg.Seed and
// splits them 80/10/10.
func Generate(cfg GenConfig) (*Split, error) {
	if cfg.N < 10 || cfg.MinTests < 1 || cfg.MaxTests < cfg.MinTests {
		return nil, fmt.Errorf("pytask: bad generator config %+v", cfg)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	seen := map[string]bool{}
	var all []Example
	for tries := 0; len(all) < cfg.N; tries++ {
		if tries > 50*cfg.N {
			return nil, fmt.Errorf("pytask: only %d distinct problems after %d draws (asked for %d)", len(all), tries, cfg.N)
		}
		var p problem
		switch rng.IntN(3) {
		case 0:
			p = newListProblem(rng)
		case 1:
			p = newStringProblem(rng)
		default:
			p = newArithProblem(rng)
		}
		desc := p.describe(rng)
		if seen[desc] {
			continue
		}
		tests := makeTests(p, rng, cfg.MinTests+rng.IntN(cfg.MaxTests-cfg.MinTests+1))
		if tests == nil {
			continue // no inputs on which the reference is defined
		}
		seen[desc] = true
		all = append(all, Example{Description: desc, Code: p.code(rng), Tests: tests})
	}
	nt, nv := len(all)*8/10, len(all)/10
	return &Split{Train: all[:nt], Val: all[nt : nt+nv], Test: all[nt+nv:]}, nil
}

// problem is one composed specification: it describes itself, writes a reference in a style
// drawn from rng, draws inputs and computes the expected output (ok false where the function is
// not defined, e.g. a division by zero).
type problem interface {
	describe(rng *rand.Rand) string
	code(rng *rand.Rand) string
	input(rng *rand.Rand) []any
	eval(args []any) (out any, ok bool)
}

// makeTests draws n inputs on which p is defined and writes "assert f(...) == ..." lines; nil if
// too few inputs are defined.
func makeTests(p problem, rng *rand.Rand, n int) []string {
	var tests []string
	seen := map[string]bool{}
	for try := 0; len(tests) < n && try < 40*n; try++ {
		args := p.input(rng)
		out, ok := p.eval(args)
		if !ok {
			continue
		}
		call := "f(" + pyArgs(args) + ")"
		if seen[call] {
			continue
		}
		seen[call] = true
		tests = append(tests, "assert "+call+" == "+pyRepr(out))
	}
	if len(tests) < n {
		return nil
	}
	return tests
}

func pyArgs(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = pyRepr(a)
	}
	return strings.Join(parts, ", ")
}

// pyRepr writes a value as a Python literal.
func pyRepr(v any) string {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x)
	case string:
		return "'" + x + "'" // the family's strings hold letters and spaces only
	case []int:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = strconv.Itoa(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	panic(fmt.Sprintf("pytask: no Python literal for %T", v))
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

// WriteMBPP writes examples as MBPP JSONL (task_id, text, code, test_list, test_setup_code),
// task ids numbered from first.
func WriteMBPP(w io.Writer, examples []Example, first int) error {
	enc := json.NewEncoder(w)
	for i, ex := range examples {
		rec := struct {
			TaskID    int      `json:"task_id"`
			Text      string   `json:"text"`
			Code      string   `json:"code"`
			TestList  []string `json:"test_list"`
			TestSetup string   `json:"test_setup_code"`
		}{first + i, ex.Description, ex.Code, ex.Tests, ""}
		if err := enc.Encode(rec); err != nil {
			return fmt.Errorf("pytask: writing example %d: %w", i, err)
		}
	}
	return nil
}

// SaveMBPP writes the split as dir/{train,val,test}.jsonl in MBPP format.
func SaveMBPP(dir string, s *Split) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	first := 1
	for _, part := range []struct {
		name string
		ex   []Example
	}{{"train", s.Train}, {"val", s.Val}, {"test", s.Test}} {
		f, err := os.Create(filepath.Join(dir, part.name+".jsonl"))
		if err != nil {
			return err
		}
		if err := WriteMBPP(f, part.ex, first); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		first += len(part.ex)
	}
	return nil
}

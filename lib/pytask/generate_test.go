package pytask

import (
	"bytes"
	"context"
	"os"
	"slices"
	"testing"

	"github.com/execfeed/execfeed/sandbox"
)

// newPool starts a small Python sandbox pool, or skips the test where none can run.
func newPool(t *testing.T) *sandbox.Pool {
	t.Helper()
	pool, err := sandbox.NewPool(sandbox.PoolConfig{Workers: 2})
	if err != nil {
		t.Skipf("no Python sandbox here: %v", err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

func TestGenerateDeterministicAndVaried(t *testing.T) {
	cfg := GenConfig{Seed: 3, N: 400, MinTests: 4, MaxTests: 8}
	a, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(cfg)
	if !slices.EqualFunc(a.Train, b.Train, func(x, y Example) bool { return x.Code == y.Code && x.Description == y.Description }) {
		t.Fatal("the same seed gave different data")
	}
	if len(a.Train) != 320 || len(a.Val) != 40 || len(a.Test) != 40 {
		t.Fatalf("split %d/%d/%d, want 320/40/40", len(a.Train), len(a.Val), len(a.Test))
	}
	loops, kinds := 0, map[string]int{}
	for _, ex := range append(a.Train, a.Val...) {
		if n := len(ex.Tests); n < 4 || n > 8 {
			t.Errorf("%q has %d tests", ex.Description, n)
		}
		if bytes.Contains([]byte(ex.Code), []byte("for ")) && bytes.Count([]byte(ex.Code), []byte("\n")) > 3 {
			loops++
		}
		switch {
		case bytes.Contains([]byte(ex.Code), []byte("(xs)")):
			kinds["list"]++
		case bytes.Contains([]byte(ex.Code), []byte("(s)")):
			kinds["string"]++
		default:
			kinds["arith"]++
		}
	}
	if loops < 150 || len(kinds) != 3 || kinds["list"] < 60 || kinds["string"] < 60 || kinds["arith"] < 60 {
		t.Errorf("%d multi-line loop references of 360, kinds %v", loops, kinds)
	}
}

// TestReferencesPassTheirTests runs every reference of a generated data set against its own
// tests in the sandbox, checks the tokeniser round trip on every program, and writes and reads
// the data back as MBPP JSONL.
func TestReferencesPassTheirTests(t *testing.T) {
	pool := newPool(t)
	s, err := Generate(GenConfig{Seed: 1, N: 300, MinTests: 4, MaxTests: 8})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := SaveMBPP(dir, s); err != nil {
		t.Fatal(err)
	}
	task, err := LoadTask(dir+"/train.jsonl", sandbox.MBPP, pool, sandbox.Options{})
	if err != nil {
		t.Fatalf("loading the written MBPP file (which runs every reference): %v", err)
	}
	if task.Len() != len(s.Train) || task.Prompts[5].Reference != s.Train[5].Code {
		t.Fatalf("read back %d prompts (want %d) or a different reference", task.Len(), len(s.Train))
	}
	var jobs []sandbox.Job
	for _, ex := range s.Train {
		toks, err := Tokenize(ex.Code)
		if err != nil {
			t.Fatalf("%q: %v", ex.Code, err)
		}
		again, err := Tokenize(Detokenize(toks))
		if err != nil || !slices.Equal(again, toks) {
			t.Fatalf("round trip of %q: %q, %v", ex.Code, again, err)
		}
		var tests []sandbox.Test
		for _, a := range ex.Tests {
			tests = append(tests, sandbox.Test{Code: a})
		}
		jobs = append(jobs, sandbox.Job{Program: sandbox.Program{Lang: sandbox.Python, Source: Detokenize(toks)}, Tests: tests})
	}
	res, err := pool.RunBatch(context.Background(), jobs, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Outcome != sandbox.PassedTest {
			t.Errorf("detokenised reference of %q: %s %s", s.Train[i].Description, r.Outcome, r.Error)
		}
	}
}

func TestBadReferenceIsAnError(t *testing.T) {
	pool := newPool(t)
	_, err := NewTask("bad", []Example{{Description: "add one to a", Code: "def f(a, b):\n    return a + 2\n", Tests: []string{"assert f(1, 0) == 2"}}},
		pool, sandbox.Options{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("bad/0")) {
		t.Errorf("a reference failing its test must be an error naming the prompt, got %v", err)
	}
	bad := t.TempDir() + "/bad.jsonl"
	if err := os.WriteFile(bad, []byte("{\"task_id\": 1, \"text\": \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTask(bad, sandbox.MBPP, pool, sandbox.Options{}); err == nil {
		t.Errorf("a malformed problem file must be an error")
	}
}

func TestHumanEvalLoader(t *testing.T) {
	pool := newPool(t)
	file := t.TempDir() + "/he.jsonl"
	rec := `{"task_id": "HumanEval/0", "prompt": "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n", "canonical_solution": "    s = a + b\n    return s\n", "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n", "entry_point": "add"}` + "\n"
	if err := os.WriteFile(file, []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	task, err := LoadTask(file, sandbox.HumanEval, pool, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := task.Prompts[0]
	if p.ID != "HumanEval/0" || p.Reference != "    s = a + b\n    return s\n" || p.Program(p.Reference) != p.Prefix+p.Reference {
		t.Fatalf("prompt %+v", p)
	}
}

// TestTokenizerRoundTripOnTheFamily checks every program of the default data set: its tokens
// survive Detokenize, and the references are short enough for a small generator.
func TestTokenizerRoundTripOnTheFamily(t *testing.T) {
	s, err := Generate(DefaultGenConfig())
	if err != nil {
		t.Fatal(err)
	}
	longest := 0
	for _, ex := range append(append(s.Train, s.Val...), s.Test...) {
		toks, err := Tokenize(ex.Code)
		if err != nil {
			t.Fatalf("%q: %v", ex.Code, err)
		}
		if again, err := Tokenize(Detokenize(toks)); err != nil || !slices.Equal(again, toks) {
			t.Fatalf("round trip of %q: %q, %v", ex.Code, again, err)
		}
		if Detokenize(toks) != ex.Code {
			t.Fatalf("the generator's layout is the tokeniser's: %q vs %q", Detokenize(toks), ex.Code)
		}
		longest = max(longest, len(toks))
	}
	if longest > 63 {
		t.Errorf("the longest reference has %d tokens", longest)
	}
}

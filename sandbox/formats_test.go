//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Verdicts on the project's own problem files, for each format: correct, wrong answer, exception,
// syntax error, timeout; the reference solutions pass.
func TestEvaluateFormats(t *testing.T) {
	cases := []struct {
		format Format
		want   []Outcome
	}{
		{HumanEval, []Outcome{PassedTest, FailedTest, RuntimeError, CompileError, Timeout, PassedTest, FailedTest}},
		{MBPP, []Outcome{PassedTest, FailedTest, RuntimeError, CompileError, Timeout, PassedTest}},
		{APPS, []Outcome{PassedTest, FailedTest, RuntimeError, CompileError, Timeout, PassedTest}},
	}
	for _, c := range cases {
		t.Run(string(c.format), func(t *testing.T) {
			probs, err := LoadProblems(filepath.Join("testdata", string(c.format)+".jsonl"), c.format)
			if err != nil {
				t.Fatal(err)
			}
			samples, err := LoadSamples(filepath.Join("testdata", string(c.format)+"_samples.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			res, err := Evaluate(context.Background(), pool(t), probs, samples, EvalConfig{
				Options: Options{Timeout: 1500 * time.Millisecond}, Parallel: 2,
				Progress: func(done, total, passed int) { calls++ },
			})
			if err != nil {
				t.Fatal(err)
			}
			if calls != len(samples) {
				t.Errorf("progress called %d times for %d samples", calls, len(samples))
			}
			for i, r := range res {
				if r.Outcome != c.want[i] {
					t.Errorf("sample %d (%q): %v (%s), want %v", i, r.Completion, r.Outcome, r.Result, c.want[i])
				}
				wantResult := map[Outcome]string{PassedTest: "passed", Timeout: "timed out"}[c.want[i]]
				if wantResult == "" {
					wantResult = "failed: "
				}
				if !strings.HasPrefix(r.Result, wantResult) || r.Passed != (c.want[i] == PassedTest) {
					t.Errorf("sample %d: result %q passed %v", i, r.Result, r.Passed)
				}
			}
			for _, p := range probs {
				if p.Reference == "" {
					continue
				}
				r, err := pool(t).Run(context.Background(), Program{Lang: Python, Source: p.Reference}, p.Tests, Options{})
				if err != nil || r.Outcome != PassedTest {
					t.Errorf("%s reference: %v %v %s", p.TaskID, r.Outcome, err, r.Error)
				}
			}
			// The results file is the reference harness's, task ids keep their JSON type.
			var buf bytes.Buffer
			if err := WriteResults(&buf, res); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != len(samples) {
				t.Fatalf("%d result lines for %d samples", len(lines), len(samples))
			}
			var first map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"task_id", "completion", "result", "passed"} {
				if _, ok := first[k]; !ok {
					t.Errorf("results line lacks %q: %s", k, lines[0])
				}
			}
			if _, isNum := first["task_id"].(float64); isNum != (c.format == MBPP) {
				t.Errorf("task_id type changed: %s", lines[0])
			}
			counts := Counts(res)
			if len(counts) != 2 || counts[0].Total+counts[1].Total != len(samples) {
				t.Errorf("counts %+v", counts)
			}
		})
	}
}

func TestMalformedInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"task_id": "T/0", "prompt": "def f():\n", "test": "def check(c):\n    assert c() == 1\n", "entry_point": "f"}`
	cases := []struct {
		name, body string
		format     Format
		want       string
	}{
		{"badjson.jsonl", good + "\n\n{\"task_id\": \"T/1\", \"prompt\": \n", HumanEval, "badjson.jsonl:3: bad JSON"},
		{"missing.jsonl", good + "\n" + `{"task_id": "T/1", "prompt": "x"}`, HumanEval, "missing.jsonl:2: missing field(s) test, entry_point"},
		{"dup.jsonl", good + "\n" + good, HumanEval, "dup.jsonl:2: task_id \"T/0\" already defined on line 1"},
		{"mbpp.jsonl", `{"task_id": 1, "text": "t", "test_list": []}`, MBPP, "mbpp.jsonl:1: test_list is empty"},
		{"apps.jsonl", `{"task_id": "a", "question": "q", "inputs": ["1"], "outputs": []}`, APPS, "apps.jsonl:1: inputs and outputs"},
		{"badid.jsonl", `{"task_id": [1], "prompt": "p", "test": "t", "entry_point": "f"}`, HumanEval, "badid.jsonl:1: task_id must be"},
		{"empty.jsonl", "\n", HumanEval, "no problems"},
	}
	for _, c := range cases {
		_, err := LoadProblems(write(c.name, c.body), c.format)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := LoadProblems(filepath.Join(dir, "nope.jsonl"), HumanEval); err == nil {
		t.Error("missing problems file should fail")
	}
	if _, err := ParseFormat("apps2"); err == nil {
		t.Error("ParseFormat should reject unknown formats")
	}
	probs, err := LoadProblems(write("p.jsonl", good), HumanEval)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadSamples(write("s1.jsonl", `{"task_id": "T/0"}`))
	if err == nil || !strings.Contains(err.Error(), "s1.jsonl:1: missing field(s) completion") {
		t.Errorf("sample without completion: %v", err)
	}
	samples, err := LoadSamples(write("s2.jsonl", `{"task_id": "T/0", "completion": "    return 1\n"}`+"\n"+`{"task_id": "T/9", "completion": ""}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Evaluate(context.Background(), pool(t), probs, samples, EvalConfig{})
	if err == nil || !strings.Contains(err.Error(), "s2.jsonl:2: unknown task_id \"T/9\"") {
		t.Errorf("unknown task id: %v", err)
	}
}

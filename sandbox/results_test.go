package sandbox

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestResultsRoundTrip: ReadResults reads back what WriteResults wrote (task ids keep their JSON
// type), and writing what it read gives the same bytes.
func TestResultsRoundTrip(t *testing.T) {
	results := []SampleResult{
		NewSampleResult(Sample{TaskID: "HumanEval/0", Completion: "    return 1\n", rawID: json.RawMessage(`"HumanEval/0"`)},
			Result{Outcome: PassedTest, Passed: 3, Tests: make([]TestResult, 3), Time: 1234567 * time.Nanosecond}),
		NewSampleResult(Sample{TaskID: "11", Completion: "x =", rawID: json.RawMessage(`11`)},
			Result{Outcome: CompileError, Error: "SyntaxError: invalid syntax", Tests: make([]TestResult, 2)}),
		NewSampleResult(Sample{TaskID: "HumanEval/0", Completion: "while 1: pass"},
			Result{Outcome: Timeout, Passed: 1, Tests: make([]TestResult, 3), Time: 3 * time.Second}),
	}
	var first bytes.Buffer
	if err := WriteResults(&first, results); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "samples.jsonl_results.jsonl")
	if err := os.WriteFile(path, first.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(results) {
		t.Fatalf("%d results read, %d written", len(got), len(results))
	}
	for i, g := range got {
		w := results[i]
		if g.TaskID != w.TaskID || g.Completion != w.Completion || g.Passed != w.Passed || g.Result != w.Result ||
			g.Outcome != w.Outcome || g.Run.Outcome != w.Outcome || g.Run.Passed != w.Run.Passed ||
			g.Run.Time != w.Run.Time.Truncate(time.Microsecond) {
			t.Errorf("result %d: read %+v, wrote %+v", i, g, w)
		}
	}
	var second bytes.Buffer
	if err := WriteResults(&second, got); err != nil {
		t.Fatal(err)
	}
	if second.String() != first.String() {
		t.Errorf("rewritten:\n%s\nwritten:\n%s", second.String(), first.String())
	}
	if c := Counts(got); len(c) != 2 || c[0].Total != 2 || c[0].Passed != 1 {
		t.Errorf("counts %+v", c)
	}
}

// TestReadResultsRejectsBadLines: every malformed line is an error naming the file and line.
func TestReadResultsRejectsBadLines(t *testing.T) {
	good := `{"task_id":"a","completion":"x","result":"passed","passed":true,"outcome":"PassedTest","tests_passed":1,"tests":1,"time_ms":2.5}`
	for _, c := range []struct{ line, want string }{
		{`{"task_id":"a","completion":"x","result":"passed","passed":true}`, "missing field(s) outcome"},
		{`{"task_id":"a","completion":"x","result":"failed: E","passed":true,"outcome":"FailedTest"}`, "passed is true but the outcome is FailedTest"},
		{`{"task_id":"a","completion":"x","result":"passed","passed":true,"outcome":"Won"}`, "unknown outcome"},
		{`{"task_id":"a","completion":"x","result":"passed","passed":true,"outcome":"PassedTest","tests_passed":3,"tests":1}`, "bad counts"},
		{`{"task_id":["a"],"completion":"x","result":"passed","passed":true,"outcome":"PassedTest"}`, "task_id"},
		{`{"task_id":"a",`, "bad JSON"},
	} {
		_, err := ReadResults(strings.NewReader(good+"\n"+c.line+"\n"), "r.jsonl")
		if err == nil || !strings.Contains(err.Error(), "r.jsonl:2:") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error at r.jsonl:2 saying %q", c.line, err, c.want)
		}
	}
	if _, err := LoadResults(filepath.Join(t.TempDir(), "none.jsonl")); err == nil {
		t.Error("a missing file was read")
	}
}

package sandbox

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Format names a problem-file format.
type Format string

const (
	// HumanEval: JSONL of {task_id, prompt, canonical_solution, test, entry_point}. The program is
	// prompt + completion; its one test runs `test` then `check(entry_point)`, as the reference
	// harness does.
	HumanEval Format = "humaneval"
	// MBPP: JSONL of {task_id, text, code, test_list, test_setup_code}. The program is the
	// completion alone; each line of test_list is one assertion test, preceded by test_setup_code.
	MBPP Format = "mbpp"
	// APPS: execfeed's JSONL for stdin/stdout problems: {task_id, question, inputs, outputs,
	// solution?}; inputs[i] is fed on stdin and outputs[i] expected on stdout (see docs/SANDBOX.md).
	APPS Format = "apps"
)

// ParseFormat maps "humaneval", "mbpp" and "apps" to a Format.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case HumanEval, MBPP, APPS:
		return f, nil
	}
	return "", fmt.Errorf("sandbox: unknown problem format %q (want humaneval, mbpp or apps)", s)
}

// Problem is one programming problem with its tests.
type Problem struct {
	TaskID string
	Format Format
	// Prompt is what the model sees: HumanEval's prompt, MBPP's text, APPS's question.
	Prompt string
	// Reference is a correct program, complete (HumanEval: prompt + canonical_solution), or "".
	Reference  string
	EntryPoint string // HumanEval only
	Tests      []Test
}

// Program is the program to run for a completion: HumanEval completions continue the prompt;
// MBPP and APPS completions are whole programs.
func (p Problem) Program(completion string) Program {
	if p.Format == HumanEval {
		return Program{Lang: Python, Source: p.Prompt + completion}
	}
	return Program{Lang: Python, Source: completion}
}

// Sample is one completion to evaluate.
type Sample struct {
	TaskID     string
	Completion string
	// Where is "file:line" of the sample, for error messages.
	Where string
	// rawID is task_id as written (a string, or a number in MBPP files), echoed in results.
	rawID json.RawMessage
}

// SampleResult is the verdict on one sample; its JSON form is a line of the reference HumanEval
// harness's *_results.jsonl (task_id, completion, result, passed) plus execfeed's fields.
type SampleResult struct {
	TaskID     string
	Completion string
	Passed     bool
	// Result is "passed", "timed out" or "failed: <error>", as the reference harness writes it.
	Result  string
	Outcome Outcome
	Run     Result
	rawID   json.RawMessage
	tests   int // the number of tests, when read from a results file (Run.Tests is then nil)
}

// MarshalJSON writes the results-file line.
func (s SampleResult) MarshalJSON() ([]byte, error) {
	id := s.rawID
	if id == nil {
		id, _ = json.Marshal(s.TaskID)
	}
	return json.Marshal(resultLine{id, s.Completion, s.Result, s.Passed, s.Outcome, s.Run.Passed,
		max(len(s.Run.Tests), s.tests), float64(s.Run.Time.Microseconds()) / 1000})
}

// resultLine is a line of a results file.
type resultLine struct {
	TaskID     json.RawMessage `json:"task_id"`
	Completion string          `json:"completion"`
	Result     string          `json:"result"`
	Passed     bool            `json:"passed"`
	Outcome    Outcome         `json:"outcome"`
	TestsPass  int             `json:"tests_passed"`
	Tests      int             `json:"tests"`
	TimeMS     float64         `json:"time_ms"`
}

// NewSampleResult derives the reference harness's result string from a run.
func NewSampleResult(s Sample, r Result) SampleResult {
	out := SampleResult{TaskID: s.TaskID, Completion: s.Completion, Outcome: r.Outcome, Run: r, rawID: s.rawID}
	switch r.Outcome {
	case PassedTest:
		out.Passed, out.Result = true, "passed"
	case Timeout:
		out.Result = "timed out"
	default:
		out.Result = "failed: " + r.Error
	}
	return out
}

// openJSONL opens a file, transparently gunzipping names ending in .gz.
func openJSONL(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, nil
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{z, f}, nil
}

// eachLine calls fn on every non-blank line of r with its 1-based number.
func eachLine(r io.Reader, name string, fn func(line int, b []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if err := fn(n, b); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return nil
}

// decodeObject unmarshals a JSON object and checks that the required fields are present.
func decodeObject(b []byte, into any, required ...string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	var missing []string
	for _, f := range required {
		if v, ok := fields[f]; !ok || string(v) == "null" {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing field(s) %s", strings.Join(missing, ", "))
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("bad field: %w", err)
	}
	return nil
}

// taskID turns a JSON string or number into its text.
func taskID(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("task_id must be a string or a number, not %s", raw)
}

// LoadProblems reads a problem file (JSONL, optionally .gz) in the given format.
func LoadProblems(path string, f Format) ([]Problem, error) {
	r, err := openJSONL(path)
	if err != nil {
		return nil, fmt.Errorf("sandbox: problems: %w", err)
	}
	defer r.Close()
	return ReadProblems(r, path, f)
}

// ReadProblems reads problems from r; name labels errors ("name:line: ...").
func ReadProblems(r io.Reader, name string, f Format) ([]Problem, error) {
	var out []Problem
	seen := map[string]int{}
	err := eachLine(r, name, func(line int, b []byte) error {
		var p Problem
		var rawID json.RawMessage
		switch f {
		case HumanEval:
			var v struct {
				TaskID            json.RawMessage `json:"task_id"`
				Prompt            string          `json:"prompt"`
				CanonicalSolution string          `json:"canonical_solution"`
				Test              string          `json:"test"`
				EntryPoint        string          `json:"entry_point"`
			}
			if err := decodeObject(b, &v, "task_id", "prompt", "test", "entry_point"); err != nil {
				return err
			}
			rawID = v.TaskID
			p = Problem{Format: f, Prompt: v.Prompt, EntryPoint: v.EntryPoint,
				Tests: []Test{{Name: "check", Code: v.Test + "\n" + "check(" + v.EntryPoint + ")\n"}}}
			if v.CanonicalSolution != "" {
				p.Reference = v.Prompt + v.CanonicalSolution
			}
		case MBPP:
			var v struct {
				TaskID        json.RawMessage `json:"task_id"`
				Text          string          `json:"text"`
				Code          string          `json:"code"`
				TestList      []string        `json:"test_list"`
				TestSetupCode string          `json:"test_setup_code"`
			}
			if err := decodeObject(b, &v, "task_id", "text", "test_list"); err != nil {
				return err
			}
			if len(v.TestList) == 0 {
				return errors.New("test_list is empty")
			}
			rawID = v.TaskID
			p = Problem{Format: f, Prompt: v.Text, Reference: v.Code}
			for i, t := range v.TestList {
				code := t + "\n"
				if strings.TrimSpace(v.TestSetupCode) != "" {
					code = v.TestSetupCode + "\n" + code
				}
				p.Tests = append(p.Tests, Test{Name: "test_list[" + strconv.Itoa(i) + "]", Code: code})
			}
		case APPS:
			var v struct {
				TaskID   json.RawMessage `json:"task_id"`
				Question string          `json:"question"`
				Inputs   []string        `json:"inputs"`
				Outputs  []string        `json:"outputs"`
				Solution string          `json:"solution"`
			}
			if err := decodeObject(b, &v, "task_id", "question", "inputs", "outputs"); err != nil {
				return err
			}
			if len(v.Inputs) == 0 || len(v.Inputs) != len(v.Outputs) {
				return fmt.Errorf("inputs and outputs must be non-empty and of equal length (got %d and %d)", len(v.Inputs), len(v.Outputs))
			}
			rawID = v.TaskID
			p = Problem{Format: f, Prompt: v.Question, Reference: v.Solution}
			for i := range v.Inputs {
				p.Tests = append(p.Tests, Test{Name: "io[" + strconv.Itoa(i) + "]", Stdin: v.Inputs[i], Stdout: v.Outputs[i]})
			}
		default:
			return fmt.Errorf("unknown format %q", f)
		}
		id, err := taskID(rawID)
		if err != nil {
			return err
		}
		if prev, dup := seen[id]; dup {
			return fmt.Errorf("task_id %q already defined on line %d", id, prev)
		}
		seen[id] = line
		p.TaskID = id
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: problems %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sandbox: problems %s: no problems", name)
	}
	return out, nil
}

// LoadSamples reads a samples file: JSONL of {task_id, completion} (other fields are ignored).
func LoadSamples(path string) ([]Sample, error) { return load(path, "samples", ReadSamples) }

// load opens path (gunzipping a .gz) and reads it with read; what labels the error of opening it.
func load[T any](path, what string, read func(io.Reader, string) ([]T, error)) ([]T, error) {
	r, err := openJSONL(path)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %s: %w", what, err)
	}
	defer r.Close()
	return read(r, path)
}

// ReadSamples reads samples from r; name labels errors and Sample.Where.
func ReadSamples(r io.Reader, name string) ([]Sample, error) {
	var out []Sample
	err := eachLine(r, name, func(line int, b []byte) error {
		var v struct {
			TaskID     json.RawMessage `json:"task_id"`
			Completion string          `json:"completion"`
		}
		if err := decodeObject(b, &v, "task_id", "completion"); err != nil {
			return err
		}
		id, err := taskID(v.TaskID)
		if err != nil {
			return err
		}
		out = append(out, Sample{TaskID: id, Completion: v.Completion, Where: name + ":" + strconv.Itoa(line), rawID: v.TaskID})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: samples %w", err)
	}
	return out, nil
}

// WriteResults writes one JSON line per result.
func WriteResults(w io.Writer, results []SampleResult) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("sandbox: writing results: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("sandbox: writing results: %w", err)
	}
	return nil
}

// LoadResults reads a results file WriteResults (kernel eval) wrote; .gz is accepted.
func LoadResults(path string) ([]SampleResult, error) { return load(path, "results", ReadResults) }

// ReadResults reads the lines WriteResults writes, in their order; name labels errors. Each line
// needs task_id, completion, result, passed and outcome (so the reference harness's own files,
// which have no outcome, are refused rather than guessed at), and passed must agree with the
// outcome. A line records the number of tests, not each test: Run.Tests is nil, Run.Passed,
// Run.Outcome and Run.Time (to the microsecond) are set, and writing the results again gives the
// same lines.
func ReadResults(r io.Reader, name string) ([]SampleResult, error) {
	var out []SampleResult
	err := eachLine(r, name, func(line int, b []byte) error {
		var v resultLine
		if err := decodeObject(b, &v, "task_id", "completion", "result", "passed", "outcome"); err != nil {
			return err
		}
		id, err := taskID(v.TaskID)
		if err != nil {
			return err
		}
		if v.Passed != (v.Outcome == PassedTest) {
			return fmt.Errorf("passed is %v but the outcome is %v", v.Passed, v.Outcome)
		}
		if v.Tests < 0 || v.TestsPass < 0 || v.TestsPass > v.Tests || v.TimeMS < 0 {
			return fmt.Errorf("bad counts: %d of %d tests passed in %g ms", v.TestsPass, v.Tests, v.TimeMS)
		}
		run := Result{Outcome: v.Outcome, Passed: v.TestsPass, Time: time.Duration(math.Round(v.TimeMS*1000)) * time.Microsecond}
		out = append(out, SampleResult{TaskID: id, Completion: v.Completion, Passed: v.Passed, Result: v.Result,
			Outcome: v.Outcome, Run: run, rawID: v.TaskID, tests: v.Tests})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: results %w", err)
	}
	return out, nil
}

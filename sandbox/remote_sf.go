package sandbox

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// SandboxFusion's API (github.com/bytedance/SandboxFusion, sandbox/server/sandbox_api.py): the
// request and response of POST /run_code. execfeed's server answers it (package sandbox/serve)
// and the Remote executor speaks it to SandboxFusion servers.

// RunCodePath is the path of SandboxFusion's code execution endpoint.
const RunCodePath = "/run_code"

// RunCodeRequest is the body of POST /run_code. Absent fields take SandboxFusion's defaults
// (NewRunCodeRequest): compile_timeout 10, run_timeout 10 (seconds), memory_limit_MB -1 (no
// limit of the caller's: the server's default).
type RunCodeRequest struct {
	Code           string             `json:"code"`
	Language       string             `json:"language"`
	CompileTimeout float64            `json:"compile_timeout"`
	RunTimeout     float64            `json:"run_timeout"`
	MemoryLimitMB  int                `json:"memory_limit_MB"`
	Stdin          *string            `json:"stdin"`
	Files          map[string]*string `json:"files"`       // path -> base64 content
	FetchFiles     []string           `json:"fetch_files"` // paths to return after the run
}

// NewRunCodeRequest returns a request with SandboxFusion's defaults, to decode a body into.
func NewRunCodeRequest() RunCodeRequest {
	return RunCodeRequest{CompileTimeout: 10, RunTimeout: 10, MemoryLimitMB: -1}
}

// SandboxFusion's RunStatus (whole request) and CommandRunStatus (one command) values.
const (
	RunSuccess      = "Success"      // every command finished with return code 0
	RunFailed       = "Failed"       // a command timed out or returned non-zero
	RunSandboxError = "SandboxError" // the sandbox itself failed

	CommandFinished          = "Finished"
	CommandError             = "Error"
	CommandTimeLimitExceeded = "TimeLimitExceeded"
)

// CommandRunResult is SandboxFusion's result of one command (compile or run).
type CommandRunResult struct {
	Status        string   `json:"status"`
	ExecutionTime *float64 `json:"execution_time"`
	ReturnCode    *int     `json:"return_code"`
	Stdout        *string  `json:"stdout"`
	Stderr        *string  `json:"stderr"`
}

// RunCodeResponse is the answer to POST /run_code.
type RunCodeResponse struct {
	Status          string            `json:"status"`
	Message         string            `json:"message"`
	CompileResult   *CommandRunResult `json:"compile_result"`
	RunResult       *CommandRunResult `json:"run_result"`
	ExecutorPodName *string           `json:"executor_pod_name"`
	Files           map[string]string `json:"files"`
}

//go:embed remote_harness.py
var sfHarness string

// sfEvent is one verdict line of remote_harness.py: a test ("t") or the final line ("final").
type sfEvent struct {
	T         *int    `json:"t"`
	O         string  `json:"o"`
	E         string  `json:"e"`
	G         string  `json:"g"`
	S         float64 `json:"s"`
	Final     string  `json:"final"`
	Error     string  `json:"error"`
	Stdout    string  `json:"stdout"`
	Stderr    string  `json:"stderr"`
	Truncated bool    `json:"truncated"`
}

// sfProgram returns the code to send to /run_code for a job: the harness with the program and
// its tests as a payload, and the marker that starts verdict lines in its stdout.
func sfProgram(p Program, tests []Test, opts Options) (code, mark string, err error) {
	type harnessTest struct {
		Code   string `json:"code,omitempty"`
		IO     bool   `json:"io,omitempty"`
		Stdin  string `json:"stdin,omitempty"`
		Stdout string `json:"stdout,omitempty"`
	}
	payload := struct {
		Source string        `json:"source"`
		Tests  []harnessTest `json:"tests"`
		Cap    int           `json:"cap"`
	}{Source: p.Source, Cap: opts.MaxOutputBytes}
	nio := 0
	for _, t := range tests {
		if t.Code == "" {
			payload.Tests = append(payload.Tests, harnessTest{IO: true, Stdin: t.Stdin, Stdout: t.Stdout})
			nio++
		} else {
			payload.Tests = append(payload.Tests, harnessTest{Code: t.Code})
		}
	}
	if nio != 0 && nio != len(tests) {
		return "", "", errors.New("sandbox: a Python run cannot mix assertion tests and stdin/stdout tests")
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return "", "", err
	}
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	mark = "@@execfeed:" + hex.EncodeToString(nonce[:]) + "@@"
	// The payload as a Python string literal: a JSON string is one (Go escapes every control
	// character, quote and backslash; \u escapes mean the same in both).
	lit, err := json.Marshal(string(b))
	if err != nil {
		return "", "", err
	}
	code = sfHarness + "\n_execfeed_run(" + string(lit) + ", '" + mark + "')\n"
	return code, mark, nil
}

// runSF runs the jobs idx one request each on a SandboxFusion endpoint, writing each result as it
// comes; it returns the jobs still to run when a request fails.
func (r *Remote) runSF(ctx context.Context, ep *endpoint, jobs []Job, idx []int, opts Options, out []Result) ([]int, *attemptError) {
	o := opts.withDefaults()
	for k, i := range idx {
		code, mark, err := sfProgram(jobs[i].Program, jobs[i].Tests, o)
		if err != nil {
			return idx[k:], &attemptError{err: err}
		}
		req := RunCodeRequest{Code: code, Language: "python", CompileTimeout: 10,
			RunTimeout: o.Timeout.Seconds(), MemoryLimitMB: int(math.Ceil(float64(o.MemoryBytes) / (1 << 20))),
			Files: map[string]*string{}, FetchFiles: []string{}}
		body, err := json.Marshal(req)
		if err != nil {
			return idx[k:], &attemptError{err: err}
		}
		data, _, aerr := r.post(ctx, ep, RunCodePath, body, r.deadline(1, opts))
		if aerr != nil {
			return idx[k:], aerr
		}
		var resp RunCodeResponse
		if err := json.Unmarshal(data, &resp); err != nil {
			r.failures.Add(1)
			return idx[k:], &attemptError{retry: true, err: fmt.Errorf("bad answer: %w", err)}
		}
		res, err := sfResult(resp, mark, jobs[i].Tests, o)
		if err != nil {
			r.failures.Add(1)
			return idx[k:], &attemptError{retry: true, err: err}
		}
		out[i] = res
		r.jobs.Add(1)
	}
	return nil, nil
}

// sfResult turns a /run_code answer for the harness into a Result, as Pool.result does for a
// worker's answer.
func sfResult(resp RunCodeResponse, mark string, tests []Test, opts Options) (Result, error) {
	rr := resp.RunResult
	if resp.Status == RunSandboxError || rr == nil || rr.Status == CommandError {
		return Result{}, fmt.Errorf("sandbox error: %s", resp.Message)
	}
	res := Result{Outcome: PassedTest, Tests: make([]TestResult, len(tests))}
	if rr.ExecutionTime != nil {
		res.Time = time.Duration(*rr.ExecutionTime * float64(time.Second))
	}
	var stdout, stderr string
	if rr.Stdout != nil {
		stdout = *rr.Stdout
	}
	if rr.Stderr != nil {
		stderr = *rr.Stderr
	}
	events := map[int]sfEvent{}
	var final *sfEvent
	for _, line := range strings.Split(stdout, "\n") {
		rest, ok := strings.CutPrefix(line, mark)
		if !ok {
			continue
		}
		var ev sfEvent
		if json.Unmarshal([]byte(rest), &ev) != nil {
			continue
		}
		if ev.Final != "" {
			final = &ev
		} else if ev.T != nil && *ev.T >= 0 && *ev.T < len(tests) {
			events[*ev.T] = ev
		}
	}
	missing, missingErr := RuntimeError, "no result: the process ended"
	if rr.ReturnCode != nil {
		missingErr += fmt.Sprintf(" (return code %d)", *rr.ReturnCode)
	}
	if tail := strings.TrimSpace(stderr); tail != "" {
		missingErr += ": " + tail[max(0, len(tail)-300):]
	}
	if rr.Status == CommandTimeLimitExceeded {
		missing, missingErr = Timeout, fmt.Sprintf("time limit (%.3gs wall) exceeded", opts.Timeout.Seconds())
	}
	if final != nil {
		o, err := ParseOutcome(final.Final)
		if err != nil {
			o = RuntimeError
		}
		res.Outcome, res.Error = o, final.Error
		res.Stdout, res.Stderr, res.Truncated = final.Stdout, final.Stderr, final.Truncated
		if o == CompileError {
			missing, missingErr = CompileError, final.Error
		} else if missing != Timeout {
			missing, missingErr = RuntimeError, "no verdict for this test"
		}
	} else {
		res.Outcome, res.Error = missing, missingErr
	}
	for i, t := range tests {
		ev, ok := events[i]
		if !ok {
			res.Tests[i] = TestResult{Name: t.Name, Outcome: missing, Error: missingErr}
			continue
		}
		res.Tests[i] = harnessVerdict(t, ev.O, ev.G, ev.E, ev.S)
	}
	res.summarize()
	return res, nil
}

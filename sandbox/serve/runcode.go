package serve

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/execfeed/execfeed/sandbox"
)

// runCode implements SandboxFusion's POST /run_code for language "python": the code runs as
// __main__ in the sandbox pool (stdin, when given, on sys.stdin), and the Result is reported in
// SandboxFusion's shape. See docs/SERVE.md for how outcomes map to statuses and return codes.
func (s *Server) runCode(w http.ResponseWriter, r *http.Request) {
	req := sandbox.NewRunCodeRequest()
	if !s.decode(w, r, &req) {
		return
	}
	bad := func(msg string) {
		s.m.reject("malformed")
		fail(w, http.StatusBadRequest, msg)
	}
	switch {
	case req.Language != "python":
		bad(fmt.Sprintf("language %q not supported by this server (python only)", req.Language))
		return
	case req.RunTimeout <= 0:
		bad("run_timeout must be positive")
		return
	case time.Duration(req.RunTimeout*float64(time.Second)) > s.cfg.MaxTimeout:
		bad(fmt.Sprintf("run_timeout %gs exceeds this server's limit %v", req.RunTimeout, s.cfg.MaxTimeout))
		return
	case len(req.Files) > 0 || len(req.FetchFiles) > 0:
		bad("files and fetch_files are not supported by this server")
		return
	}
	opts := sandbox.Options{Timeout: time.Duration(req.RunTimeout * float64(time.Second))}
	if req.MemoryLimitMB > 0 {
		opts.MemoryBytes = int64(req.MemoryLimitMB) << 20
	}
	job := sandbox.Job{Program: sandbox.Program{Lang: sandbox.Python, Source: req.Code}}
	if req.Stdin != nil && *req.Stdin != "" {
		// A stdin/stdout test with no expected output: the program runs as __main__ with the
		// input on sys.stdin, and what it prints is the test's Got.
		job.Tests = []sandbox.Test{{Stdin: *req.Stdin}}
	}
	if !s.admit(1) {
		s.busy(w, 1)
		return
	}
	res, err := s.run(r.Context(), job, opts)
	s.done(1)
	resp := sandbox.RunCodeResponse{Files: map[string]string{}}
	if s.cfg.PodName != "" {
		resp.ExecutorPodName = &s.cfg.PodName
	}
	if err != nil {
		if r.Context().Err() != nil {
			note(w, 1, "client went away")
			return
		}
		s.log.Error("executor failed", "error", err)
		resp.Status, resp.Message = sandbox.RunSandboxError, "executor failed: "+err.Error()
		note(w, 1, resp.Message)
		writeJSON(w, http.StatusOK, resp)
		return
	}
	note(w, 1, "")
	resp.Status, resp.RunResult = RunCodeResult(res, len(job.Tests) > 0)
	writeJSON(w, http.StatusOK, resp)
}

var exitCode = regexp.MustCompile(`^SystemExit: (-?\d+)$`)

// RunCodeResult maps a Result of a program run as __main__ (with one stdin/stdout test when
// withStdin) to SandboxFusion's run status and run result:
//
//	PassedTest, FailedTest -> Success, Finished, return code 0
//	CompileError, RuntimeError -> Failed, Finished, return code 1 (n for SystemExit(n)),
//	                              the error appended to stderr
//	Timeout -> Failed, TimeLimitExceeded, no return code
func RunCodeResult(res sandbox.Result, withStdin bool) (string, *sandbox.CommandRunResult) {
	stdout := res.Stdout
	if withStdin && len(res.Tests) > 0 {
		stdout = res.Tests[0].Got
	}
	stderr := res.Stderr
	secs := res.Time.Seconds()
	rr := &sandbox.CommandRunResult{Status: sandbox.CommandFinished, ExecutionTime: &secs, Stdout: &stdout, Stderr: &stderr}
	switch res.Outcome {
	case sandbox.PassedTest, sandbox.FailedTest:
		code := 0
		rr.ReturnCode = &code
		return sandbox.RunSuccess, rr
	case sandbox.Timeout:
		rr.Status = sandbox.CommandTimeLimitExceeded
		return sandbox.RunFailed, rr
	}
	code := 1
	if m := exitCode.FindStringSubmatch(res.Error); m != nil {
		code, _ = strconv.Atoi(m[1])
	}
	rr.ReturnCode = &code
	if res.Error != "" {
		if stderr != "" && !strings.HasSuffix(stderr, "\n") {
			stderr += "\n"
		}
		stderr += res.Error + "\n"
	}
	return sandbox.RunFailed, rr
}

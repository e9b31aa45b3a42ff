package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The remote executor against fake servers on loopback; sandbox/serve tests it against real ones.

// echoJobs answers POST /v1/batch with a passing result per job whose test names echo the job's.
func echoJobs(w http.ResponseWriter, r *http.Request) []Job {
	var req BatchRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil
	}
	var resp BatchResponse
	for _, j := range req.Jobs {
		res := Result{Outcome: PassedTest, Passed: len(j.Tests), Stdout: j.Program.Source}
		for _, t := range j.Tests {
			res.Tests = append(res.Tests, TestResult{Name: t.Name, Outcome: PassedTest})
		}
		resp.Results = append(resp.Results, res)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
	return req.Jobs
}

func pyJobs(n int) []Job {
	jobs := make([]Job, n)
	for i := range jobs {
		jobs[i] = Job{Program: Program{Lang: Python, Source: fmt.Sprint("job", i)},
			Tests: []Test{{Name: fmt.Sprint("job", i), Code: "pass"}}}
	}
	return jobs
}

// checkOnce checks that res[i] is the result of jobs[i].
func checkOnce(t *testing.T, jobs []Job, res []Result) {
	t.Helper()
	if len(res) != len(jobs) {
		t.Fatalf("%d results for %d jobs", len(res), len(jobs))
	}
	for i := range jobs {
		if len(res[i].Tests) != 1 || res[i].Tests[0].Name != jobs[i].Tests[0].Name || res[i].Stdout != jobs[i].Program.Source {
			t.Fatalf("result %d is not job %d's: %+v", i, i, res[i])
		}
	}
}

// closedURL is the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func fast() RemoteConfig {
	return RemoteConfig{Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, RequestTimeout: 10 * time.Second}
}

func TestNewRemoteURLs(t *testing.T) {
	r, err := NewRemote([]string{"http://a:1/", " sf+http://b:2", "sandboxfusion+https://c:3", ""}, RemoteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.eps) != 3 || r.eps[0].base != "http://a:1" || r.eps[0].sf.Load() || r.eps[1].base != "http://b:2" || !r.eps[1].sf.Load() ||
		r.eps[2].base != "https://c:3" || !r.eps[2].sf.Load() || r.Parallel() != 6 {
		t.Fatalf("endpoints: %+v", r.eps)
	}
	for _, bad := range [][]string{nil, {""}, {"ftp://x"}, {"localhost:8080"}} {
		if _, err := NewRemote(bad, RemoteConfig{}); err == nil {
			t.Errorf("NewRemote(%q) accepted", bad)
		}
	}
	t.Setenv(TokenEnv, "tok")
	ex, par, err := OpenExecutor("http://a:1,http://b:2", PoolConfig{}, RemoteConfig{PerEndpoint: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rem, ok := ex.(*Remote); !ok || par != 6 || rem.cfg.Token != "tok" {
		t.Fatalf("OpenExecutor: %T %d", ex, par)
	}
}

// TestRemoteFailover: a dead endpoint's jobs go to the live one; every job has its own result.
func TestRemoteFailover(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { echoJobs(w, r) }))
	defer srv.Close()
	r, err := NewRemote([]string{closedURL(t), srv.URL}, fast())
	if err != nil {
		t.Fatal(err)
	}
	jobs := pyJobs(40)
	res, err := r.RunBatch(context.Background(), jobs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkOnce(t, jobs, res)
	if st := r.Stats(); st.Failures == 0 || st.Jobs != 40 {
		t.Errorf("stats %+v", st)
	}
}

// TestRemoteCutAnswers: a server that dies in the middle of its answers (connection closed after
// part of the body) loses nothing and duplicates nothing: its jobs are run again elsewhere and
// each result is taken from one complete answer.
func TestRemoteCutAnswers(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	cuts := 0
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cut := cuts < 5
		cuts++
		mu.Unlock()
		if !cut {
			echoJobs(w, r)
			return
		}
		var req BatchRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"results": [{"outcome": "PassedTest", "tests": [{"name": "`))
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer flaky.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, j := range echoJobs(w, r) {
			mu.Lock()
			seen[j.Tests[0].Name]++
			mu.Unlock()
		}
	}))
	defer good.Close()
	r, err := NewRemote([]string{flaky.URL, good.URL}, fast())
	if err != nil {
		t.Fatal(err)
	}
	jobs := pyJobs(64)
	res, err := r.RunBatch(context.Background(), jobs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkOnce(t, jobs, res)
	if st := r.Stats(); st.Retries == 0 || st.Jobs != 64 {
		t.Errorf("stats %+v", st)
	}
}

// TestRemoteErrors: a 400 is the executor's error at once (no retry); endless 500s give up after
// MaxAttempts with the last failure in the message.
func TestRemoteErrors(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(ErrorResponse{Error: "no jobs"})
	}))
	defer bad.Close()
	r, _ := NewRemote([]string{bad.URL}, fast())
	_, err := r.RunBatch(context.Background(), pyJobs(3), Options{})
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "no jobs") || r.Stats().Requests != 1 {
		t.Errorf("400: err %v, stats %+v", err, r.Stats())
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer broken.Close()
	cfg := fast()
	cfg.MaxAttempts = 4
	r, _ = NewRemote([]string{broken.URL}, cfg)
	_, err = r.Run(context.Background(), Program{Lang: Python, Source: "pass"}, nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "after 4 attempts") || !strings.Contains(err.Error(), "boom") || r.Stats().Requests != 4 {
		t.Errorf("500s: err %v, stats %+v", err, r.Stats())
	}
	// Cancelling the context stops the retries.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	cfg.MaxAttempts = 1 << 20
	r, _ = NewRemote([]string{closedURL(t)}, cfg)
	if _, err := r.Run(ctx, Program{Lang: Python}, nil, Options{}); err == nil {
		t.Error("no error from a cancelled run")
	}
	// RPN runs in-process, unsupported languages are errors.
	res, err := r.Run(context.Background(), Program{Lang: RPN, Source: "a 1 +"}, []Test{{Want: 1}}, Options{})
	if err != nil || res.Outcome != PassedTest {
		t.Errorf("RPN: %v %+v", err, res)
	}
	if _, err := r.Run(context.Background(), Program{Lang: "cobol"}, nil, Options{}); err == nil {
		t.Error("cobol accepted")
	}
}

// TestSFResultTimeout: a SandboxFusion answer cut by its time limit keeps the verdicts printed
// before it; the other tests and the run are Timeout.
func TestSFResultTimeout(t *testing.T) {
	_, mark, err := sfProgram(Program{Lang: Python, Source: "x"}, []Test{{Code: "a"}, {Code: "b"}}, Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	out := "candidate noise\n" + mark + `{"t": 0, "o": "PassedTest", "e": "", "g": "", "s": 0.01}` + "\n" + "@@execfeed:forged@@{\"final\": \"PassedTest\"}\n"
	secs := 1.0
	resp := RunCodeResponse{Status: RunFailed, RunResult: &CommandRunResult{Status: CommandTimeLimitExceeded, ExecutionTime: &secs, Stdout: &out}}
	res, err := sfResult(resp, mark, []Test{{Name: "a", Code: "a"}, {Name: "b", Code: "b"}}, Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Timeout || res.Passed != 1 || res.Tests[0].Outcome != PassedTest || res.Tests[1].Outcome != Timeout || res.Time != time.Second {
		t.Errorf("got %+v", res)
	}
	if _, err := sfResult(RunCodeResponse{Status: RunSandboxError, Message: "disk full"}, mark, nil, Options{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("SandboxError: %v", err)
	}
	if _, _, err := sfProgram(Program{Lang: Python}, []Test{{Code: "a"}, {Stdin: "1"}}, Options{}); err == nil {
		t.Error("mixed tests accepted")
	}
}

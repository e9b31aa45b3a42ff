//go:build linux

package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/execfeed/execfeed/sandbox"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestRunCodeGolden sends requests in SandboxFusion's documented shape to POST /run_code and
// compares the whole answers (execution_time aside) with testdata/run_code.golden.json: programs
// that pass, fail an assertion, raise, time out, do not compile, read stdin, exit with a code,
// and a request with only the required fields.
func TestRunCodeGolden(t *testing.T) {
	srv := start(t, Config{Workers: 2}, pool(t))
	path := filepath.Join("testdata", "run_code.golden.json")
	type exchange struct {
		Name     string          `json:"name"`
		Request  json.RawMessage `json:"request"`
		Response any             `json:"response"`
	}
	var cases []exchange
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for i, c := range cases {
		code, _, body := post(t, srv.url, sandbox.RunCodePath, "", string(c.Request))
		if code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", c.Name, code, body)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %v: %s", c.Name, err, body)
		}
		if rr, ok := got["run_result"].(map[string]any); ok {
			if _, isNum := rr["execution_time"].(float64); isNum {
				rr["execution_time"] = "<seconds>"
			}
		}
		if *update {
			cases[i].Response = got
			continue
		}
		want, _ := json.Marshal(c.Response)
		have, _ := json.Marshal(got)
		if !bytes.Equal(want, have) {
			t.Errorf("%s:\n got %s\nwant %s", c.Name, have, want)
		}
	}
	if *update {
		out, _ := json.MarshalIndent(cases, "", "  ")
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMalformed: bad requests get 400 with a message, and the server keeps serving.
func TestMalformed(t *testing.T) {
	srv := start(t, Config{Workers: 1}, newGate())
	for _, c := range []struct{ path, body, want string }{
		{sandbox.RunCodePath, `{"code": "print(1)", "language": "python"`, "malformed JSON"},
		{sandbox.RunCodePath, `{"code": 5, "language": "python"}`, "malformed JSON"},
		{sandbox.RunCodePath, `{"code": "x", "language": "cpp"}`, "not supported"},
		{sandbox.RunCodePath, `{"code": "x", "language": "python", "run_timeout": 0}`, "run_timeout"},
		{sandbox.RunCodePath, `{"code": "x", "language": "python", "run_timeout": 1e6}`, "exceeds"},
		{sandbox.RunCodePath, `{"code": "x", "language": "python", "files": {"a.txt": "eA=="}}`, "files"},
		{sandbox.RunCodePath, `{"code": "x"} {"code": "y"}`, "after the object"},
		{sandbox.BatchPath, `not json`, "malformed JSON"},
		{sandbox.BatchPath, `{"jobs": []}`, "no jobs"},
		{sandbox.BatchPath, `{"jobs": [{"Program": {"Lang": "cobol", "Source": ""}}]}`, "not supported"},
		{sandbox.BatchPath, `{"jobs": [{"Program": {"Lang": "python"}}], "options": {"Timeout": 3600000000000}}`, "exceeds"},
	} {
		code, _, body := post(t, srv.url, c.path, "", c.body)
		var er sandbox.ErrorResponse
		if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &er) != nil || !strings.Contains(er.Error, c.want) {
			t.Errorf("%s %s: got %d %s, want 400 with %q", c.path, c.body, code, body, c.want)
		}
	}
	jobs := `{"jobs": [` + strings.Repeat(`{"Program": {"Lang": "python"}},`, 70) + `{"Program": {"Lang": "python"}}]}`
	if code, _, body := post(t, srv.url, sandbox.BatchPath, "", jobs); code != http.StatusBadRequest || !strings.Contains(body, "at most 65") {
		t.Errorf("oversized batch: %d %s", code, body)
	}
	if code, _ := get(t, srv.url+sandbox.RunCodePath, ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /run_code: %d, want 405", code)
	}
	// Still serving.
	close(srv.python.(*gate).open)
	code, _, body := post(t, srv.url, sandbox.BatchPath, "", `{"jobs": [{"Program": {"Lang": "python", "Source": "ok"}, "Tests": [{"Name": "t"}]}]}`)
	if code != http.StatusOK || !strings.Contains(body, `"PassedTest"`) {
		t.Fatalf("after bad requests: %d %s", code, body)
	}
}

// TestSizeLimit: a body over MaxBodyBytes gets 413.
func TestSizeLimit(t *testing.T) {
	g := newGate()
	close(g.open)
	srv := start(t, Config{Workers: 1, MaxBodyBytes: 1024}, g)
	big := `{"code": "` + strings.Repeat("#", 2000) + `", "language": "python"}`
	code, _, body := post(t, srv.url, sandbox.RunCodePath, "", big)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than 1024 bytes") {
		t.Fatalf("got %d %s, want 413", code, body)
	}
	if code, _, _ := post(t, srv.url, sandbox.RunCodePath, "", `{"code": "pass", "language": "python"}`); code != http.StatusOK {
		t.Fatalf("small request after a large one: %d", code)
	}
}

// TestAuth: with a token, requests without it get 401; health checks stay open.
func TestAuth(t *testing.T) {
	g := newGate()
	close(g.open)
	srv := start(t, Config{Workers: 1, Token: "s3cret"}, g)
	req := `{"code": "pass", "language": "python"}`
	for _, tok := range []string{"", "wrong"} {
		if code, h, _ := post(t, srv.url, sandbox.RunCodePath, tok, req); code != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
			t.Errorf("token %q: status %d, want 401 with WWW-Authenticate", tok, code)
		}
	}
	if code, _ := get(t, srv.url+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("metrics without token: %d", code)
	}
	if code, _, body := post(t, srv.url, sandbox.RunCodePath, "s3cret", req); code != http.StatusOK {
		t.Errorf("right token: %d %s", code, body)
	}
	for _, p := range []string{"/healthz", "/readyz", "/v1/ping"} {
		if code, _ := get(t, srv.url+p, ""); code != http.StatusOK {
			t.Errorf("%s without token: %d", p, code)
		}
	}
	// The remote executor sends the token.
	for _, tok := range []string{"s3cret", "wrong"} {
		r, err := sandbox.NewRemote([]string{srv.url}, sandbox.RemoteConfig{Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Run(context.Background(), sandbox.Program{Lang: sandbox.Python, Source: "pass"}, nil, sandbox.Options{})
		if (err == nil) != (tok == "s3cret") {
			t.Errorf("remote with token %q: err %v", tok, err)
		}
		if err != nil && !strings.Contains(err.Error(), "401") {
			t.Errorf("remote with wrong token: %v, want a 401", err)
		}
	}
}

// TestQueueFull: jobs beyond workers+queue get 503 with Retry-After and a message; the remote
// executor backs off and retries until every job has its result.
func TestQueueFull(t *testing.T) {
	g := newGate()
	srv := start(t, Config{Workers: 1, Queue: 1}, g)
	req := `{"code": "pass", "language": "python"}`
	done := make(chan int, 2)
	for range 2 {
		go func() {
			code, _, _ := post(t, srv.url, sandbox.RunCodePath, "", req)
			done <- code
		}()
	}
	waitFor(t, 5*time.Second, "two jobs admitted", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.admitted == 2
	})
	code, h, body := post(t, srv.url, sandbox.RunCodePath, "", req)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") != "1" || !strings.Contains(body, "queue full") {
		t.Fatalf("third job: %d %q %s, want 503 with Retry-After: 1", code, h.Get("Retry-After"), body)
	}
	_, metrics := get(t, srv.url+"/metrics", "")
	for _, want := range []string{"execfeed_serve_queue_depth 1\n", "execfeed_serve_jobs_running 1\n", `execfeed_serve_rejected_total{reason="queue_full"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
	close(g.open)
	for range 2 {
		if c := <-done; c != http.StatusOK {
			t.Errorf("admitted job: %d", c)
		}
	}

	// A client with more requests in flight than the server admits.
	g2 := &gate{delay: 20 * time.Millisecond}
	srv2 := start(t, Config{Workers: 1, Queue: -1}, g2)
	r, err := sandbox.NewRemote([]string{srv2.url}, sandbox.RemoteConfig{PerEndpoint: 4, ChunkSize: 1, Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxAttempts: 1000})
	if err != nil {
		t.Fatal(err)
	}
	jobs := namedJobs(24)
	res, err := r.RunBatch(context.Background(), jobs, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, jobs, res)
	st := r.Stats()
	if st.Busy == 0 {
		t.Errorf("no 503 seen: %+v", st)
	}
	t.Logf("client stats: %+v; server runs %d for %d jobs", st, g2.count(), len(jobs))
}

// namedJobs are Python jobs whose tests carry unique names, for checkExactlyOnce.
func namedJobs(n int) []sandbox.Job {
	jobs := make([]sandbox.Job, n)
	for i := range jobs {
		jobs[i] = sandbox.Job{Program: sandbox.Program{Lang: sandbox.Python, Source: "job" + itoa(i)},
			Tests: []sandbox.Test{{Name: "job" + itoa(i) + "/a", Code: "pass"}, {Name: "job" + itoa(i) + "/b", Code: "pass"}}}
	}
	return jobs
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// checkExactlyOnce checks that results[i] is the result of jobs[i] (the test names match) for all i.
func checkExactlyOnce(t *testing.T, jobs []sandbox.Job, results []sandbox.Result) {
	t.Helper()
	if len(results) != len(jobs) {
		t.Fatalf("%d results for %d jobs", len(results), len(jobs))
	}
	for i, j := range jobs {
		r := results[i]
		if len(r.Tests) != len(j.Tests) {
			t.Fatalf("job %d: %d test results for %d tests (outcome %v, error %q)", i, len(r.Tests), len(j.Tests), r.Outcome, r.Error)
		}
		for k := range j.Tests {
			if r.Tests[k].Name != j.Tests[k].Name {
				t.Fatalf("job %d: test %d is %q, want %q", i, k, r.Tests[k].Name, j.Tests[k].Name)
			}
		}
	}
}

// TestDrain: on shutdown the server stops taking connections and finishes the requests in flight.
func TestDrain(t *testing.T) {
	g := newGate()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	s := New(Config{Workers: 2, Logger: quiet()}, g)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, 0, 10*time.Second) }()
	type answer struct {
		code int
		body string
	}
	answers := make(chan answer, 2)
	for i := range 2 {
		go func() {
			code, _, body := post(t, url, sandbox.BatchPath, "", `{"jobs": [{"Program": {"Lang": "python", "Source": "inflight`+itoa(i)+`"}, "Tests": [{"Name": "t"}]}]}`)
			answers <- answer{code, body}
		}()
	}
	waitFor(t, 5*time.Second, "two jobs running", func() bool { return s.running.Load() == 2 })
	cancel()
	waitFor(t, 5*time.Second, "draining", func() bool { return s.draining.Load() })
	// The listener closes; new connections are refused while the two jobs are still running.
	waitFor(t, 5*time.Second, "listener closed", func() bool {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with jobs in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(g.open)
	for range 2 {
		a := <-answers
		if a.code != http.StatusOK || !strings.Contains(a.body, `"PassedTest"`) {
			t.Errorf("in-flight request: %d %s", a.code, a.body)
		}
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestMetricsAndInfo: the metrics page is Prometheus text with the documented series.
func TestMetricsAndInfo(t *testing.T) {
	srv := start(t, Config{Workers: 2}, pool(t))
	post(t, srv.url, sandbox.RunCodePath, "", `{"code": "print(1)", "language": "python"}`)
	post(t, srv.url, sandbox.RunCodePath, "", `{"code": "1/0", "language": "python"}`)
	post(t, srv.url, sandbox.RunCodePath, "", `{"code": "(", "language": "nope"}`)
	code, m := get(t, srv.url+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{
		"# TYPE execfeed_serve_requests_total counter",
		`execfeed_serve_requests_total{path="/run_code",code="200"} 2`,
		`execfeed_serve_requests_total{path="/run_code",code="400"} 1`,
		`execfeed_serve_jobs_total{outcome="PassedTest"} 1`,
		`execfeed_serve_jobs_total{outcome="RuntimeError"} 1`,
		"# TYPE execfeed_serve_request_duration_seconds histogram",
		`execfeed_serve_request_duration_seconds_bucket{path="/run_code",le="+Inf"} 3`,
		`execfeed_serve_request_duration_seconds_count{path="/run_code"} 3`,
		"execfeed_serve_job_duration_seconds_count 2",
		"execfeed_serve_queue_depth 0",
		"execfeed_serve_capacity 66",
		`execfeed_serve_rejected_total{reason="malformed"} 1`,
		"execfeed_serve_pool_runs_total",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Every line is a comment or "name{labels} value".
	for _, line := range strings.Split(strings.TrimSpace(m), "\n") {
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 || !strings.HasPrefix(f[0], "execfeed_serve_") {
			t.Errorf("bad metrics line %q", line)
		}
	}
	code, body := get(t, srv.url+"/v1/info", "")
	var in Info
	if code != http.StatusOK || json.Unmarshal([]byte(body), &in) != nil || in.Server != "execfeed" || in.Workers != 2 || in.Isolation == nil {
		t.Errorf("info: %d %s", code, body)
	}
}
